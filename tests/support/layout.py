"""What a page's layout owes a reader at a width, measured in the browser (Playwright):
no horizontal scroll of the page, and every button inside the box it is drawn in."""

# Each button and the nearest ancestor drawn as a box (a border or a background: a card,
# a list item, the header), with the edges of both in CSS pixels. A button not rendered
# (display: none) has no box and is left out.
BUTTONS_AND_CARDS = """() => {
  const painted = (el) => {
    const style = getComputedStyle(el);
    const border = ["Top", "Right", "Bottom", "Left"].some(
      (side) => parseFloat(style[`border${side}Width`]) > 0);
    const transparent = style.backgroundColor === "rgba(0, 0, 0, 0)" ||
      style.backgroundColor === "transparent";
    return border || !transparent;
  };
  const edges = (box) => ({left: box.left, right: box.right, top: box.top, bottom: box.bottom});
  return [...document.querySelectorAll("button")].flatMap((button) => {
    const box = button.getBoundingClientRect();
    if (!box.width && !box.height) return [];
    let card = button.parentElement;
    while (card && card !== document.body && !painted(card)) card = card.parentElement;
    return [{
      button: button.textContent.trim(),
      box: edges(box),
      card: card.tagName.toLowerCase() + (card.className ? "." + card.className : ""),
      cardBox: edges(card.getBoundingClientRect()),
    }];
  });
}"""


def page_scroll_width(page) -> tuple[int, int]:
    """(the document's scroll width, the viewport's width)."""
    return page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")


def buttons_outside_their_cards(page, tolerance: float = 0.5) -> list[dict]:
    """The buttons whose box leaves the box of the card they are drawn in, or the
    viewport; [] when every one is inside."""
    width = page.evaluate("() => window.innerWidth")
    outside = []
    for found in page.evaluate(BUTTONS_AND_CARDS):
        box, card = found["box"], found["cardBox"]
        inside = all(
            (
                box["left"] >= card["left"] - tolerance,
                box["right"] <= card["right"] + tolerance,
                box["top"] >= card["top"] - tolerance,
                box["bottom"] <= card["bottom"] + tolerance,
                box["left"] >= -tolerance and box["right"] <= width + tolerance,
            )
        )
        if not inside:
            outside.append(found)
    return outside


def box_inside(inner: dict, outer: dict, tolerance: float = 0.5) -> bool:
    """Whether Playwright bounding box `inner` lies within `outer`."""
    return (
        inner["x"] >= outer["x"] - tolerance
        and inner["y"] >= outer["y"] - tolerance
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + tolerance
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + tolerance
    )
