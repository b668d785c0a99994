"""One help layout for every fer-edge command: each option's default shown, descriptions kept as written."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to an option's help unless there is nothing to show (no default, a switch
    that is off, an empty list) or the help already says what the default is."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 32,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == [] or default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


def command_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The argument parser of one command: this help layout, and `--version`."""
    from edge import __version__

    plain = description.replace("`", "") if description else description  # docstrings' Markdown, not help text
    parser = argparse.ArgumentParser(prog=prog, description=plain, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"{prog} (fer-edge) {__version__}")
    return parser


def error_text(error: BaseException) -> str:
    """An error as one line for a command's `error:` message: an OS error names its path and reason, never
    its errno ("[Errno 2] ...")."""
    if isinstance(error, OSError) and error.strerror:
        where = error.filename if error.filename is not None else ""
        return f"{where}: {error.strerror}" if where else error.strerror
    return str(error)
