"""An order's side effects are jobs (worker.models.Job) of the kinds the apps registered
(side_effects.registry), keyed by the order's id: no table of their own."""
