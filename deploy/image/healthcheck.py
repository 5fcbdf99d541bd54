#!/opt/grid/bin/python
"""The image's HEALTHCHECK: /healthz of whichever service this container runs.

One image runs any of the four services, each on its own port, so the check asks every service port and
judges by the one that answers: 200 is healthy, anything else (503: a consumer task died) is not, and no
answer at all is not either. Standard library only; it must cost next to nothing every 15 seconds.
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {"INTAKE_PORT": 8000, "DISPATCH_PORT": 8001, "NOTIFY_PORT": 8002, "CONSOLE_PORT": 8003}


def main() -> int:
    for variable, default in DEFAULT_PORTS.items():
        port = os.environ.get(variable, str(default))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
                return 0 if response.status == 200 else 1
        except urllib.error.HTTPError as error:
            print(f"/healthz on port {port} answered {error.code}", file=sys.stderr)
            return 1
        except OSError:
            continue  # not this container's service
    print("no service answers /healthz", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
