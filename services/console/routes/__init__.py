"""The console's routers, one per area of the page; `services.console.bootstrap` includes them."""
