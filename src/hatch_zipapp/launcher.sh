#!/bin/sh
# @NAME@, with an embedded CPython @VERSION@: made by hatch-zipapp (docs/embedded-python.md).
# This file is: this POSIX sh launcher; python-build-standalone's install_only .tar.gz (@SIZE@ bytes, from byte
# hz_offset); the application's zip (so `python3 THIS-FILE` runs it too). The launcher unpacks the interpreter once
# into ROOT/cpython-SHA256 (ROOT as the runtime finds it: $ZIPAPP_ROOT, $SHIV_ROOT, $CACHE_DIRECTORY,
# $XDG_CACHE_HOME/hatch-zipapp, ~/.cache/hatch-zipapp), then runs this file with it, isolated (-I).
hz_offset=000000000000
hz_total=000000000000
hz_size=@SIZE@
hz_sha256=@SHA256@
hz_python=@PYTHON@
hz_offset=${hz_offset#"${hz_offset%%[!0]*}"} # zero-padded at build: no leading 0 (octal to sh)
hz_total=${hz_total#"${hz_total%%[!0]*}"}
hz_nl='
'
hz_self=$0
case $hz_self in */*) ;; *) # `sh FILE`: FILE here, else the one sh found on PATH
  if [ -f "$hz_self" ]; then hz_self=./$hz_self; else hz_self=$(command -v -- "$hz_self") || hz_self=$0; fi ;;
esac
hz_work='' hz_lockdir='' hz_held=''
# hz_die MESSAGE: one line on stderr; a half-made work directory and a held lock directory are removed first.
hz_die() {
  if [ -n "$hz_work" ]; then rm -rf "$hz_work" 2>/dev/null; fi
  if [ -n "$hz_held" ]; then rm -rf "$hz_lockdir" 2>/dev/null; fi
  hz_line=$*
  while :; do case $hz_line in *"$hz_nl"*) hz_line="${hz_line%%"$hz_nl"*} ${hz_line#*"$hz_nl"}" ;; *) break ;; esac; done
  printf '%s: %s\n' "${hz_self##*/}" "$hz_line" >&2
  exit 70
}
case ${ZIPAPP_PREPARE:-} in 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Oo][Nn]) hz_umask=022 ;; *) hz_umask=077 ;; esac

# hz_file: what this start reads, opened once. On Linux it is this shell's descriptor of the file (/proc/$$/fd/N, N
# a free one of 8 to 3), so a deploy that switches the name meanwhile (ln -sfn and mv -T, or mv over it) never has it
# read another release (docs/runtime.md: a start runs one release). Python gets that file too, and the name in
# _ZIPAPP_NAMED. If the descriptor is not the script this shell runs (hz_same), the name was switched before it was
# opened: the start begins again, on the new release (at most 3 times in a row). Elsewhere, the name itself.
hz_file=$hz_self
# hz_same: some other descriptor of this shell (the one it reads this script from) is the same file as hz_file; or,
# for a shell that keeps none, hz_file's first lines hold this script's own values.
hz_same() {
  for hz_other in "/proc/$$/fd"/*; do
    if [ "$hz_other" != "$hz_file" ] && [ "$hz_other" -ef "$hz_file" ]; then return 0; fi
  done
  hz_have='' hz_lines=0
  while [ "$hz_lines" -lt 11 ] && IFS= read -r hz_line; do
    hz_lines=$((hz_lines + 1))
    case $hz_line in
      hz_offset=* | hz_total=*)
        hz_value=${hz_line#*=}
        hz_have="$hz_have ${hz_line%%=*}=${hz_value#"${hz_value%%[!0]*}"}"
        ;;
      hz_size=* | hz_sha256=* | hz_python=*) hz_have="$hz_have $hz_line" ;;
    esac
  done <"$hz_file"
  [ "$hz_have" = " hz_offset=$hz_offset hz_total=$hz_total hz_size=$hz_size hz_sha256=$hz_sha256 hz_python=$hz_python" ]
}
if [ -d "/proc/$$/fd" ]; then
  for hz_fd in 8 7 6 5 4 3; do
    if [ ! -L "/proc/$$/fd/$hz_fd" ]; then
      if eval "command exec $hz_fd<\"\$hz_self\"" 2>/dev/null; then hz_file=/proc/$$/fd/$hz_fd; fi
      break
    fi
  done
fi
if [ "$hz_file" != "$hz_self" ] && ! hz_same; then
  hz_switched=${_ZIPAPP_SWITCHED:-0}
  case $hz_switched in 0 | 1 | 2) ;; *) hz_die "the file was replaced while it started, 4 times in a row (a deploy switching it?): start it again" ;; esac
  _ZIPAPP_SWITCHED=$((hz_switched + 1))
  export _ZIPAPP_SWITCHED
  eval "exec $hz_fd<&-"
  if [ -x "$hz_self" ]; then exec "$hz_self" "$@"; fi
  exec sh "$hz_self" "$@"
fi

# hz_check BASE: BASE, every directory above it, BASE/cpython-SHA256 (if there), its python/bin and its interpreter are
# owned by this user or root and writable by no one else (a directory above may be sticky: /tmp), as the runtime's
# roots.py checks its root. One `ls` for them all (each directory as DIR/., so a name never ends in a blank), which
# also gives this user's id (the owner of /proc/self/, else `id -u`). Sets hz_uid, hz_found (BASE/cpython-SHA256 is
# there) and hz_sticky (BASE is sticky and world-writable); hz_why when it fails.
hz_check() {
  case $1 in *"$hz_nl"*)
    hz_why="$1 has a newline in its name"
    return 1
    ;;
  esac
  hz_list=
  hz_path=$1
  while [ -n "$hz_path" ]; do
    hz_list="$hz_list$hz_path/.
"
    hz_path=${hz_path%/*}
  done
  hz_in=$1/cpython-$hz_sha256
  hz_out=$(
    IFS=$hz_nl
    set -f
    unset TIME_STYLE QUOTING_STYLE LS_COLORS # ls's own settings must not change its lines
    # shellcheck disable=SC2086
    LC_ALL=C ls -ldn -- /proc/self/ $hz_list/. "$hz_in" "$hz_in/python/bin/." "$hz_in/$hz_python" 2>/dev/null
  )
  hz_uid='' hz_found='' hz_sticky='' hz_listed=''
  while read -r hz_mode _ hz_owner _ _ _ _ _ hz_name; do
    if [ "$hz_name" = /proc/self/ ]; then hz_uid=$hz_owner; fi
  done <<EOF
$hz_out
EOF
  [ -n "$hz_uid" ] || hz_uid=$(id -u) || hz_die "cannot tell the user id (id -u)"
  while read -r hz_mode _ hz_owner _ _ _ _ _ hz_name; do
    case $hz_name in
      /proc/self/ | "") continue ;;
      "$hz_in" | "$hz_in -> "*)
        hz_found=1
        case $hz_mode in l*)
          hz_why="$hz_in is a symbolic link"
          return 1
          ;;
        esac
        ;;
      "$1/.")
        hz_listed=$hz_owner
        case $hz_mode in ????????w[tT]*) hz_sticky=1 ;; esac
        ;;
    esac
    hz_name=${hz_name%/.}
    case $hz_owner in 0 | "$hz_uid") ;; *)
      hz_why="${hz_name:-/} is owned by another user (uid $hz_owner)"
      return 1
      ;;
    esac
    case $hz_name in
      "$1" | "$hz_in"*) ;;
      *) case $hz_mode in ?????????[tT]*) continue ;; esac ;; # a sticky directory above: /tmp
    esac
    case $hz_mode in ?????w* | ????????w*)
      if [ -n "$hz_sticky" ] && [ "$hz_name" = "$1" ]; then continue; fi # the caller uses a private directory in it
      hz_why="${hz_name:-/} is writable by group or others ($hz_mode)"
      return 1
      ;;
    esac
  done <<EOF
$hz_out
EOF
  [ -n "$hz_listed" ] || {
    hz_why="cannot list $1"
    return 1
  }
}

# hz_secure PATH VARIABLE: PATH as the root (made if missing, private), checked; sets hz_base and hz_writable.
hz_secure() {
  [ -d "$1" ] || (umask $hz_umask && mkdir -p -- "$1") 2>/dev/null
  hz_base=$(cd -P -- "$1" 2>/dev/null && pwd -P) || {
    hz_why="cannot use \$$2=$1"
    return 1
  }
  hz_check "$hz_base" || {
    hz_why="refusing \$$2=$1: $hz_why"
    return 1
  }
  if [ -n "$hz_sticky" ]; then # sticky and world-writable (/tmp): this user's private directory in it
    hz_base=$hz_base/hatch-zipapp-$hz_uid
    [ -d "$hz_base" ] || (umask $hz_umask && mkdir -- "$hz_base") 2>/dev/null
    if [ -L "$hz_base" ] || [ ! -d "$hz_base" ]; then
      hz_why="$hz_base (in \$$2=$1) is not a directory: set ZIPAPP_ROOT to one"
      return 1
    fi
    hz_check "$hz_base" || {
      hz_why="refusing $hz_base (in \$$2=$1): $hz_why"
      return 1
    }
    if [ "$hz_listed" != "$hz_uid" ]; then
      hz_why="$hz_base (in \$$2=$1) was made by another user: set ZIPAPP_ROOT to a directory of your own"
      return 1
    fi
  fi
  hz_writable=
  if [ -w "$hz_base" ]; then hz_writable=1; fi
}

# hz_explicit VARIABLE: the absolute path $VARIABLE names (in hz_value), as the runtime's roots.py explicit() reads
# it: shiv's $OTHER (a variable name only: nothing else is ever evaluated), then ~ and ~/... as $HOME, ~USER/...
# as USER's home directory (os.path.expanduser); a relative path, or a variable that names nothing, is an error.
hz_explicit() {
  hz_given='' hz_home=''
  eval "hz_given=\${$1}"
  hz_value=$hz_given
  case $hz_value in \$*) # shiv's indirection: SHIV_ROOT=$OTHER
    hz_other=${hz_value#?}
    hz_other=${hz_other#\{}
    hz_other=${hz_other%\}}
    hz_value=
    case $hz_other in "" | [!A-Za-z_]* | *[!A-Za-z0-9_]*) ;; *) eval "hz_value=\${$hz_other:-}" ;; esac
    [ -n "$hz_value" ] || hz_die "\$$1=$hz_given names the variable \$$hz_other, which is not set (an unexpanded variable?): set $1 to an absolute path"
    ;;
  esac
  case $hz_value in
    [~] | [~]/*) if [ -n "${HOME:-}" ]; then hz_value=$HOME${hz_value#"~"}; fi ;;
    [~]*)
      hz_user=${hz_value%%/*}
      hz_user=${hz_user#"~"}
      # a user name only, never ~+, ~- or ~N (bash's directory stack: ~0 is the working directory): an unknown user
      case $hz_user in
        "" | [!A-Za-z0-9_]* | *[!A-Za-z0-9._-]*) ;;
        *[!0-9]*)
          eval "hz_home=~$hz_user"
          case $hz_home in /*) hz_value=$hz_home${hz_value#"~$hz_user"} ;; esac
          ;;
      esac
      ;;
  esac
  case $hz_value in /*) ;; *) hz_die "\$$1=$hz_given is not an absolute path: set it to one (a relative root would depend on the working directory)" ;; esac
}

# hz_default VARIABLE VALUE PATH: PATH (from $VARIABLE=VALUE) as the root if it is usable and writable; else adds it
# to hz_tried. A VALUE that is not an absolute path (relative, ~ or ~USER: no shell expanded it, empty) is ignored,
# as the XDG base directory spec says and the runtime does (its note says so once): never the working directory. A
# service account's HOME=/nonexistent is never created.
hz_default() {
  case $2 in /*) ;; *)
    hz_tried="$hz_tried \$$1=$2 (not an absolute path)"
    return 1
    ;;
  esac
  if [ "$1" = HOME ] && [ ! -d "$2" ]; then
    hz_tried="$hz_tried $3 (\$HOME is not a directory)"
    return 1
  fi
  hz_secure "$3" "$1" && [ -n "$hz_writable" ] && return
  hz_tried="$hz_tried $3"
  return 1
}

hz_root() {
  for hz_var in ZIPAPP_ROOT SHIV_ROOT; do
    eval "hz_value=\${$hz_var:-}"
    [ -n "$hz_value" ] || continue
    hz_explicit $hz_var
    hz_secure "$hz_value" "$hz_var" || hz_die "$hz_why"
    return
  done
  hz_tried=
  if [ -n "${CACHE_DIRECTORY:-}" ]; then
    hz_default CACHE_DIRECTORY "${CACHE_DIRECTORY%%:*}" "${CACHE_DIRECTORY%%:*}" && return
  fi
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    hz_default XDG_CACHE_HOME "$XDG_CACHE_HOME" "$XDG_CACHE_HOME/hatch-zipapp" && return
  fi
  if [ -n "${HOME:-}" ]; then
    hz_default HOME "$HOME" "$HOME/.cache/hatch-zipapp" && return
  fi
  hz_die "no writable directory to unpack Python into (tried:${hz_tried:- none, no \$HOME}). Set ZIPAPP_ROOT to one"
}

# hz_need TOOL...: each tool is on PATH, else one line naming it.
hz_need() {
  for hz_tool in "$@"; do
    command -v "$hz_tool" >/dev/null 2>&1 || hz_die "no '$hz_tool' on PATH ($PATH): the launcher needs it (docs/embedded-python.md)"
  done
}

# hz_timeout: $ZIPAPP_LOCK_TIMEOUT as the runtime's locks.py reads it (a number of seconds, 0 or more, with a fraction
# or an exponent; inf: no limit; unset or blank: 300), in hz_timeout as whole seconds rounded up (empty: no limit).
# Anything else (nan, -1, five) is one line.
hz_timeout() {
  hz_t=${ZIPAPP_LOCK_TIMEOUT:-}
  hz_t=${hz_t#"${hz_t%%[! 	]*}"}
  hz_t=${hz_t%"${hz_t##*[! 	]}"}
  hz_timeout=300
  [ -n "$hz_t" ] || return 0
  hz_bad="\$ZIPAPP_LOCK_TIMEOUT='$ZIPAPP_LOCK_TIMEOUT' is not a number of seconds: set it to one, e.g. 300 (the default)"
  hz_sign=
  case $hz_t in [+-]*)
    hz_sign=${hz_t%"${hz_t#?}"}
    hz_t=${hz_t#?}
    ;;
  esac
  case $hz_t in [Ii][Nn][Ff] | [Ii][Nn][Ff][Ii][Nn][Ii][Tt][Yy])
    [ "$hz_sign" != - ] || hz_die "$hz_bad"
    hz_timeout=
    return 0
    ;;
  esac
  hz_int=${hz_t%%[eE]*} hz_e=0 hz_eneg=
  case $hz_t in *[eE]*) hz_e=${hz_t#*[eE]} ;; esac
  case $hz_int in "" | . | *.*.* | *[!0-9.]*) hz_die "$hz_bad" ;; esac
  case $hz_e in -*) hz_eneg=1 ;; esac
  hz_e=${hz_e#[+-]}
  case $hz_e in "" | *[!0-9]*) hz_die "$hz_bad" ;; esac
  hz_e=${hz_e#"${hz_e%%[!0]*}"} # no leading 0 (octal to sh)
  [ ${#hz_e} -le 4 ] || hz_e=9999
  hz_frac=
  case $hz_int in *.*)
    hz_frac=${hz_int#*.}
    hz_int=${hz_int%%.*}
    ;;
  esac
  hz_int=${hz_int#"${hz_int%%[!0]*}"}
  hz_e=${hz_e:-0}
  if [ -n "$hz_eneg" ]; then
    while [ "$hz_e" -gt 0 ] && [ -n "$hz_int" ]; do # 10^-E: digits move into the fraction
      hz_frac=${hz_int#"${hz_int%?}"}$hz_frac
      hz_int=${hz_int%?}
      hz_e=$((hz_e - 1))
    done
  else
    while [ "$hz_e" -gt 0 ] && [ ${#hz_int} -le 12 ]; do # 10^E: digits move out of the fraction
      if [ -n "$hz_frac" ]; then hz_int=$hz_int${hz_frac%"${hz_frac#?}"}; else hz_int=${hz_int}0; fi
      hz_frac=${hz_frac#?}
      hz_e=$((hz_e - 1))
    done
  fi
  hz_int=${hz_int#"${hz_int%%[!0]*}"}
  case $hz_frac in *[1-9]*) hz_up=1 ;; *) hz_up=0 ;; esac
  if [ "$hz_sign" = - ] && { [ -n "$hz_int" ] || [ "$hz_up" = 1 ]; }; then hz_die "$hz_bad"; fi # -0 is 0
  if [ ${#hz_int} -gt 9 ]; then # more than 31 years: no limit
    hz_timeout=
    return 0
  fi
  hz_timeout=$((${hz_int:-0} + hz_up))
}

# hz_lockcheck PATH KIND: nothing at PATH, or a KIND (- a regular file, d a directory), not a link, owned by this user
# or root and writable by no one else; else one line. A FIFO there never hangs the start.
hz_lockcheck() {
  if [ ! -e "$1" ] && [ ! -L "$1" ]; then return 0; fi
  hz_out=$(LC_ALL=C ls -ldn -- "$1" 2>/dev/null) || {
    if [ ! -e "$1" ] && [ ! -L "$1" ]; then return 0; fi # released meanwhile
    hz_die "cannot list the lock $1"
  }
  read -r hz_mode _ hz_owner _ <<EOF
$hz_out
EOF
  hz_kind="a regular file"
  if [ "$2" = d ]; then hz_kind="a directory"; fi
  case $hz_mode in
    l*) hz_die "refusing the lock $1: it is a symbolic link. Delete it" ;;
    "$2"*) ;;
    *) hz_die "refusing the lock $1: it is not $hz_kind ($hz_mode). Delete it" ;;
  esac
  case $hz_owner in 0 | "$hz_uid") ;; *) hz_die "refusing the lock $1: another user (uid $hz_owner) made it. Delete it" ;; esac
  case $hz_mode in ?????w* | ????????w*) hz_die "refusing the lock $1: it is writable by group or others ($hz_mode). Delete it" ;; esac
}

# hz_flock_holder: the PID of the start holding hz_lockfile (in hz_holder), which it wrote there; ? if none is.
hz_flock_holder() {
  hz_holder=
  read -r hz_holder <"$hz_lockfile" 2>/dev/null || :
  case $hz_holder in "" | *[!0-9]*) hz_holder='?' ;; esac
}

# hz_waiting LOCK: after a try that failed: one line after 2 seconds, and one line and exit at $ZIPAPP_LOCK_TIMEOUT,
# naming the holder (the runtime's contract: a lock dies with its holder, so the advice is never to delete it).
hz_waiting() {
  if [ -n "$hz_timeout" ] && [ "$hz_waited" -ge "$hz_timeout" ]; then
    hz_die "waited $hz_timeout s for another start to unpack Python (lock: $1, held by PID $hz_holder). If it is stuck (stopped or hung), end it; never delete the lock while it runs. ZIPAPP_LOCK_TIMEOUT sets how long to wait"
  fi
  if [ "$hz_waited" = 2 ]; then
    printf '%s: waiting for another start to unpack Python (held by PID %s, lock %s), for at most %s\n' \
      "${hz_self##*/}" "$hz_holder" "$1" "${hz_timeout:-no limit}${hz_timeout:+ s} (ZIPAPP_LOCK_TIMEOUT)" >&2
  fi
  sleep 1
  hz_waited=$((hz_waited + 1))
}

# hz_lock: one start at a time unpacks, waiting at most $ZIPAPP_LOCK_TIMEOUT seconds. flock(1) where there is one
# (released by the kernel however the holder dies), on a lock file checked first (hz_lockcheck), made 0600 and opened
# read-write (a FIFO put there meanwhile cannot hang it), holding its holder's PID; else a lock directory holding the holder's PID, taken over
# once that process is gone, or once it has had no PID in it for 5 seconds (its maker was killed, or the disk was
# full, before it wrote one).
hz_lock() {
  hz_lockfile=$hz_base/.cpython-$hz_sha256.lock
  hz_waited=0
  if command -v flock >/dev/null 2>&1; then
    hz_lockcheck "$hz_lockfile" -
    hz_umask_lock=$(umask)
    umask 077
    exec 9<>"$hz_lockfile" || hz_die "cannot open the lock file $hz_lockfile"
    umask "$hz_umask_lock"
    hz_lockcheck "$hz_lockfile" -
    until flock -n 9; do
      hz_flock_holder
      hz_waiting "$hz_lockfile"
    done
    printf '%-20s\n' "$$" >&9 2>/dev/null || : # its holder, for the starts that wait (always the same length)
    return
  fi
  hz_need cat kill sleep
  hz_lockdir=$hz_lockfile.d
  hz_empty=0
  until mkdir "$hz_lockdir" 2>/dev/null; do
    hz_lockcheck "$hz_lockdir" d
    hz_holder=
    if [ -f "$hz_lockdir/pid" ] && [ ! -L "$hz_lockdir/pid" ]; then hz_holder=$(cat "$hz_lockdir/pid" 2>/dev/null) || hz_holder=; fi
    if [ -n "$hz_holder" ]; then
      hz_empty=0
      kill -0 "$hz_holder" 2>/dev/null || hz_empty=5 # its holder is gone
    else
      hz_empty=$((hz_empty + 1))
    fi
    if [ "$hz_empty" -ge 5 ]; then # stale: take it over
      mv "$hz_lockdir" "$hz_lockdir.stale-$$" 2>/dev/null && rm -rf "$hz_lockdir.stale-$$"
      hz_empty=0
      continue
    fi
    hz_holder=${hz_holder:-?}
    hz_waiting "$hz_lockdir"
  done
  hz_held=1
  echo $$ >"$hz_lockdir/pid" || hz_die "cannot write $hz_lockdir/pid"
}
hz_unlock() {
  if [ -n "$hz_held" ]; then
    rm -rf "$hz_lockdir"
    hz_held=
  else exec 9>&-; fi
}

# hz_unpack: the archive checked, then unpacked into a work directory, then renamed into place: a start killed at any
# point leaves no ROOT/cpython-SHA256, only a work directory the next start removes; a start that fails removes its
# own.
hz_unpack() {
  [ -n "$hz_writable" ] || hz_die "$hz_dir is missing and $hz_base is not writable: unpack it there first (run this file once as its owner, with ZIPAPP_PREPARE=1)"
  hz_need tail head gzip tar chmod mv rm mkdir
  hz_saved_umask=$(umask)
  umask $hz_umask
  hz_lock
  if [ ! -d "$hz_dir" ]; then
    rm -rf "$hz_base/.cpython-$hz_sha256.tmp-"*
    if command -v sha256sum >/dev/null 2>&1; then
      hz_got=$(tail -c +$((hz_offset + 1)) "$hz_file" | head -c "$hz_size" | sha256sum)
      hz_got=${hz_got%% *}
    else # gzip's own check (CRC and length) of every byte
      hz_got=$hz_sha256
      tail -c +$((hz_offset + 1)) "$hz_file" | head -c "$hz_size" | GZIP='' gzip -t 2>/dev/null || hz_got="a damaged archive"
    fi
    [ "$hz_got" = "$hz_sha256" ] || hz_die "damaged file: its Python archive is $hz_got, not sha256 $hz_sha256; download it again"
    hz_work=$hz_base/.cpython-$hz_sha256.tmp-$$
    mkdir "$hz_work" || {
      hz_work=
      hz_die "cannot create a directory in $hz_base"
    }
    hz_error=$( (unset TAR_OPTIONS GZIP && tail -c +$((hz_offset + 1)) "$hz_file" | head -c "$hz_size" | gzip -dc | (cd "$hz_work" && umask 022 && LC_ALL=C tar -xof -)) 2>&1 >/dev/null) || {
      case $hz_error in
        *"No space left on device"*) hz_error="No space left on device" ;;
        *) hz_error=${hz_error%%"$hz_nl"*} ;;
      esac
      hz_die "cannot unpack Python into $hz_base: ${hz_error:-tar failed}"
    }
    [ -x "$hz_work/$hz_python" ] || hz_die "the Python archive has no $hz_python"
    chmod -R go-w "$hz_work" || hz_die "cannot set the modes of $hz_work"
    [ "$hz_umask" = 022 ] || chmod 700 "$hz_work" || hz_die "cannot set the mode of $hz_work"
    mv "$hz_work" "$hz_dir" || hz_die "cannot rename $hz_work to $hz_dir"
    hz_work=
  fi
  hz_unlock
  umask "$hz_saved_umask"
}

hz_need ls wc
hz_timeout
hz_got=$(wc -c 2>/dev/null <"$hz_file") || hz_die "cannot read $hz_self"
hz_got=${hz_got##* }
[ "$hz_got" = "$hz_total" ] || hz_die "damaged file ($hz_got bytes, expected $hz_total): download it again"
hz_root
hz_dir=$hz_base/cpython-$hz_sha256
if [ -z "$hz_found" ]; then
  [ ! -L "$hz_dir" ] || hz_die "refusing $hz_dir: it is a symbolic link"
  hz_unpack
  hz_check "$hz_base" || hz_die "refusing to run Python from $hz_dir: $hz_why"
fi
if [ -z "$hz_found" ] || [ -L "$hz_dir" ]; then hz_die "refusing $hz_dir: it is a symbolic link, or missing"; fi
if [ ! -d "$hz_dir" ] || [ ! -x "$hz_dir/$hz_python" ]; then
  hz_die "$hz_dir is damaged (no $hz_python): remove it (rm -rf '$hz_dir', as its owner) and start again"
fi
if [ "$hz_file" != "$hz_self" ]; then
  _ZIPAPP_NAMED=$hz_self
  export _ZIPAPP_NAMED
fi
exec "$hz_dir/$hz_python" -I "$hz_file" "$@"
exit 70
