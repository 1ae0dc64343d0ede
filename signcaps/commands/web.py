"""`signcaps web build` and `signcaps web serve`: the model running live in a browser page."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from signcaps.commands.common import HandModelOption, JsonOption, SignsOption, err, out, print_json, user_errors


def register(app: typer.Typer) -> None:
    web = typer.Typer(help="Run a model in the browser: a static site, all inference on the user's device.",
                      no_args_is_help=True)
    web.command("build")(build_command)
    web.command("serve")(serve_command)
    app.add_typer(web, name="web")


@user_errors
def build_command(
    site: Path = typer.Argument(..., help="folder to write the site to (a site built there before is replaced)"),
    model: Optional[Path] = typer.Option(None, "--model", "-m",
                                         help="ONNX model from `signcaps export` (default: the shipped model)"),
    hand_model: Optional[str] = HandModelOption,
    signs: Optional[str] = SignsOption,
    json_out: bool = JsonOption,
) -> None:
    """Write a static site that works offline: page, WASM runtimes, the ONNX model and the hand model."""
    from signcaps.web.site import build_site

    log = (lambda _msg: None) if json_out else (lambda msg: err.print(f"{msg} …", style="dim", highlight=False))
    report = build_site(site, model=model, hand_model=hand_model, log=log, signs=signs)
    if json_out:
        print_json(report)
        return
    packages = ", ".join(f"{name} {version}" for name, version in report["packages"].items())
    out.print(f"wrote {report['site']}: {report['files']} files, {report['size_bytes'] / 1e6:.1f} MB "
              f"(model {report['model_name']}, format {report['format_version']}, inputs "
              f"{', '.join(report['inputs'])}; {packages})", highlight=False, soft_wrap=True)
    out.print(f"open it: signcaps web serve {report['site']}", highlight=False, soft_wrap=True)


@user_errors
def serve_command(
    site: Path = typer.Argument(..., help="a folder written by `signcaps web build`"),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port (0 = any free port)"),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="address to listen on; browsers allow the camera on localhost or HTTPS only"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="log every request"),
) -> None:
    """Serve a built site locally (Ctrl-C stops); open the printed address in a browser."""
    from signcaps.web.site import make_server

    server = make_server(site, port=port, host=host, verbose=verbose)
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    out.print(f"serving {site} at http://{shown}:{server.server_address[1]}/ (Ctrl-C stops)", highlight=False,
              soft_wrap=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print("stopped")
    finally:
        server.server_close()
