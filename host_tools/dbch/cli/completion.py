"""`dbch completion SHELL`: the shell code that completes dbch's commands and options
(argcomplete: the shell calls dbch back with the line typed so far)."""

from __future__ import annotations

import argparse


def do_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["dbch"], shell=args.shell), end="")
    return 0
