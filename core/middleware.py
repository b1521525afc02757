"""The project's middleware that is Django's with one difference."""

from django.middleware import common


class CommonMiddleware(common.CommonMiddleware):
    """Django's, except that an API path missing its trailing slash is not redirected:
    a 301 would answer HTML, and a client following it with a POST would lose the body
    (curl -L turns it into a GET). It answers a JSON 404 naming the path instead
    (core.api.json_not_found). Pages and the admin keep APPEND_SLASH's redirect."""

    def should_redirect_with_slash(self, request):
        if request.path_info.startswith("/api/"):
            return False
        return super().should_redirect_with_slash(request)
