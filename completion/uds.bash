# SPDX-License-Identifier: MIT
# bash completion for uds(1), for bash-completion (installed as
# $(datadir)/bash-completion/completions/uds, loaded at the first "uds <TAB>").
#
# Nothing here names a command or an option. The commands come from `uds --list-commands`
# and a command's options from `uds CMD --list-options`, made from the option table that
# also makes its parser and its --help, one line per option:
#
#   SHORT LONG ARG KIND [WORD...]        ("-" for what the option has not)
#   -m --mode OCTAL mode
#   - --type TYPE word stream seqpacket dgram
#
# Both are asked of the uds being completed, so a command or option added to the program,
# or a word its value takes, is completed with no change here, and an older or newer uds
# on the PATH is completed as it is. Values are completed from the words the table gives
# and from the kind and ARG: users for USER, groups for GROUP, comma-separated lists for
# LIST, file names for an ADDRESS, a FILE or a PATH; a PROGRAM after "--" as a command
# line of its own.

# COMPREPLY=($(compgen ...)) and compgen's words as arguments, as bash-completion's own
# scripts do: candidates are words without blanks (users, groups, options, option words).
# shellcheck disable=SC2207,SC2046

# _uds_find NAME: opt becomes the fields of the line of $options that describes the option
# NAME ("-m" or "--mode"); false when the command has no such option.
_uds_find() {
    local -a f
    while read -ra f; do
        if [[ $1 == "${f[0]}" || $1 == "${f[1]}" ]]; then
            opt=("${f[@]}")
            return 0
        fi
    done <<<"$options"
    return 1
}

# _uds_takes_value NAME: whether the option NAME is followed by a value.
_uds_takes_value() {
    local -a opt
    _uds_find "$1" && [[ ${opt[2]} != - ]]
}

# _uds_list_items CUR WORD...: complete the last item of a comma-separated list.
_uds_list_items() {
    local cur=$1 prefix=
    shift
    [[ $cur == *,* ]] && prefix=${cur%,*},
    COMPREPLY=($(compgen -P "$prefix" -W "$*" -- "${cur##*,}"))
}

# _uds_value: complete $cur as the value of the option in opt.
_uds_value() {
    local arg=${opt[2]} kind=${opt[3]}
    local -a words=("${opt[@]:4}")
    case $kind in
    word)
        COMPREPLY=($(compgen -W "${words[*]}" -- "$cur"))
        return ;;
    words)
        _uds_list_items "$cur" "${words[@]}"
        return ;;
    users)
        _uds_list_items "$cur" $(compgen -u)
        return ;;
    groups)
        _uds_list_items "$cur" $(compgen -g)
        return ;;
    esac
    case $arg in
    USER:GROUP | "USER[:GROUP]")
        if [[ $cur == *:* ]]; then
            COMPREPLY=($(compgen -P "${cur%%:*}:" -g -- "${cur#*:}"))
            __ltrim_colon_completions "$cur"
        else
            COMPREPLY=($(compgen -u -- "$cur"))
        fi
        return ;;
    USER)
        COMPREPLY=($(compgen -u -- "$cur"))
        return ;;
    GROUP)
        COMPREPLY=($(compgen -g -- "$cur"))
        return ;;
    *DIR*)
        _filedir -d
        return ;;
    *FILE* | *PATH* | *ADDRESS*)
        _filedir
        return ;;
    PROGRAM | COMMAND)
        COMPREPLY=($(compgen -c -- "$cur"))
        return ;;
    esac
    # A number, a size or a duration: the words it takes besides ("none") are offered
    # once one is begun, so that TAB does not type "none" for someone about to type 5.
    [[ -n $cur ]] && COMPREPLY=($(compgen -W "${words[*]}" -- "$cur"))
}

# _uds_option_names: every option of $options, by its long name and its short one.
_uds_option_names() {
    local -a f
    while read -ra f; do
        [[ ${f[1]} != - ]] && printf '%s\n' "${f[1]}"
        [[ ${f[0]} != - ]] && printf '%s\n' "${f[0]}"
    done <<<"$options"
}

_uds() {
    local cur prev words cword split
    _init_completion -s -n : || return

    local uds=${words[0]} cmd=${words[1]-}
    # shellcheck disable=SC2088  # a "~/" typed on the line, which no shell expanded
    [[ $uds == "~/"* ]] && uds=$HOME/${uds#"~/"}

    if ((cword == 1)); then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$("$uds" --list-commands 2>/dev/null) help" -- "$cur"))
        fi
        return
    fi
    case $cmd in
    help)
        ((cword == 2)) &&
            COMPREPLY=($(compgen -W "$("$uds" --list-commands 2>/dev/null)" -- "$cur"))
        return ;;
    -*)
        return ;;
    esac

    local options
    options=$("$uds" "$cmd" --list-options 2>/dev/null)
    [[ -n $options ]] || return     # not a command

    # Past a "--": the PROGRAM of a command that runs one, as a command line of its own
    # (its name, then its own completion); else more operands.
    local i
    for ((i = 2; i < cword; i++)); do
        if [[ ${words[i]} == -- ]]; then
            if "$uds" "$cmd" --help 2>/dev/null | head -n 1 | grep -q -- '-- PROGRAM'; then
                _command_offset $((i + 1))
            else
                _filedir
            fi
            return
        fi
        # An option's value in the next word is neither an operand nor a "--".
        [[ ${words[i]} == -?* && ${words[i]} != *=* ]] && _uds_takes_value "${words[i]}" &&
            ((i++))
    done

    local -a opt
    if [[ $prev == -* ]] && _uds_find "$prev" && [[ ${opt[2]} != - ]]; then
        _uds_value
        return
    fi
    $split && return    # "--flag=": a value for an option that takes none

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_uds_option_names)" -- "$cur"))
        return
    fi
    _filedir
}
complete -F _uds uds
