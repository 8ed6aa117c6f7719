"""The ``stereo`` command line.

Every command is a thin wrapper: it resolves options, calls one library function and reports.
Library code raises ordinary exceptions with clear messages; :func:`main` turns them into one
line on stderr and a non-zero exit (set ``STEREO_DEBUG=1`` to see the traceback instead).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable

import typer

app = typer.Typer(
    name="stereo",
    help="Depth from stereo event cameras with searched spiking neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
search_app = typer.Typer(
    help="Run the spiking architecture search on a backend.\n\n"
         "Examples:\n\n"
         "    stereo search stereo train.h5 --val val.h5 --out runs/search --budget-mj 5\n\n"
         "    stereo search classify --dataset cifar10 --data-root ~/data --out runs/cls --dgs --tps",
    no_args_is_help=True)
train_app = typer.Typer(
    help="Train (retrain from scratch, or fine-tune) a searched genotype.\n\n"
         "Examples:\n\n"
         "    stereo train stereo a.h5 b.h5 --val c.h5 --out runs/stereo\n\n"
         "    stereo train stereo mine.h5 --init-from default --epochs 5 --out runs/mine",
    no_args_is_help=True)
eval_app = typer.Typer(
    help="Evaluate a trained model.\n\n"
         "Examples:\n\n"
         "    stereo eval stereo held_out.h5 --model runs/stereo/best.pt --baseline sgbm --out results.json",
    no_args_is_help=True)
app.add_typer(search_app, name="search")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that every cleanup written for Ctrl-C runs too."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _guarded(command: Callable) -> Callable:
    """Report an interruption and an unexpected end of input ourselves.

    typer turns KeyboardInterrupt into a silent exit 130 and EOFError into "Aborted!" before
    :func:`main` sees them; here they become one line like every other error.
    """

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Terminated:
            print("stereo: terminated", file=sys.stderr)
            raise SystemExit(128 + signal.SIGTERM) from None
        except KeyboardInterrupt:
            print("stereo: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        except EOFError as exc:
            if os.environ.get("STEREO_DEBUG", "") not in ("", "0"):
                raise
            print(f"stereo: error: unexpected end of file{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
            raise SystemExit(1) from None

    return run


def _add(group: typer.Typer, name: str, command: Callable) -> None:
    group.command(name)(_guarded(command))


def _register_commands() -> None:
    """Attach the command functions; their modules import heavy libraries lazily."""
    from stereo.commands import classify, preprocess, synth

    _add(app, "synth", synth.synth)
    _add(app, "preprocess", preprocess.preprocess)
    _add(search_app, "classify", classify.search_classify)
    _add(train_app, "classify", classify.train_classify)
    _add(eval_app, "classify", classify.eval_classify)
    from stereo.commands import genotype

    genotype_app = typer.Typer(help="Inspect genotypes.\n\nExample:\n\n    stereo genotype show spikedhs_mvsec",
                               no_args_is_help=True)
    _add(genotype_app, "show", genotype.show)
    app.add_typer(genotype_app, name="genotype")
    from stereo.commands import search_stereo

    _add(search_app, "stereo", search_stereo.search_stereo)
    from stereo.commands import eval_stereo, train_stereo

    _add(train_app, "stereo", train_stereo.train_stereo_command)
    _add(eval_app, "stereo", eval_stereo.eval_stereo_command)
    from stereo.commands import infer

    _add(app, "infer", infer.infer)
    from stereo.commands import demo

    _add(app, "demo", demo.demo)
    from stereo.commands import bench

    _add(app, "bench", bench.bench)


_register_commands()

# Errors a user can cause (bad paths, bad files, bad options): reported without a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, LookupError)


def _first_line(exc: BaseException) -> str:
    """The error contract is one line: messages from libraries can carry several."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and map every failure to one stderr line."""
    debug = os.environ.get("STEREO_DEBUG", "") not in ("", "0")
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        # Standalone mode: usage errors print the usage and exit 2, --help exits 0.
        app(args=argv, prog_name="stereo")
    except KeyboardInterrupt:
        print("stereo: interrupted", file=sys.stderr)
        sys.exit(130)
    except USER_ERRORS as exc:
        if debug:
            raise
        print(f"stereo: error: {_first_line(exc)}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the CLI contract is "never a traceback"
        if debug:
            raise
        print(f"stereo: internal error: {type(exc).__name__}: {_first_line(exc)} (set STEREO_DEBUG=1 for details)",
              file=sys.stderr)
        sys.exit(2)
    finally:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    main()
