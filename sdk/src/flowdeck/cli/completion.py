"""Shell completion for `flowdeck`, generated from its argument parser so it
never falls behind a new command or option."""

from __future__ import annotations

import argparse


def _tree(parser: argparse.ArgumentParser) -> dict[str, tuple[list[str], list[str]]]:
    """{command: (its options, the words of its first argument)}, "" for the top."""
    tree: dict[str, tuple[list[str], list[str]]] = {}
    top_options = [o for a in parser._actions for o in a.option_strings]
    subparsers = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    tree[""] = (top_options, sorted(subparsers.choices))
    for name, sub in subparsers.choices.items():
        options = [o for a in sub._actions for o in a.option_strings]
        words: list[str] = []
        for action in sub._actions:
            if not action.option_strings and action.choices:
                words = [str(c) for c in action.choices]
                break
        tree[name] = (options, words)
    return tree


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    tree = _tree(parser)
    cases = "\n".join(
        f'        {name}) opts="{" ".join(options)}"; words="{" ".join(words)}" ;;'
        for name, (options, words) in tree.items()
        if name
    )
    top = " ".join(tree[""][1] + tree[""][0])
    bash = f"""# flowdeck completion for bash: source <(flowdeck completion bash)
_flowdeck() {{
    local cur command opts words i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    command=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) command="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "{top}" -- "$cur"))
        return
    fi
    opts=""; words=""
    case "$command" in
{cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ "${{COMP_WORDS[COMP_CWORD-1]}}" == -f || \
            "${{COMP_WORDS[COMP_CWORD-1]}}" == --file ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    fi
}}
complete -F _flowdeck flowdeck"""
    if shell == "bash":
        return bash
    return (
        "#compdef flowdeck\n"
        "# flowdeck completion for zsh (bash's, through bashcompinit)\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash
    )
