#!/bin/sh
# @NAME@, with an embedded CPython @VERSION@: made by hatch-zipapp (docs/embedded-python.md).
# This file is: this POSIX sh launcher; python-build-standalone's install_only .tar.gz (@SIZE@ bytes, from byte
# hz_offset); the application's zip (so `python3 THIS-FILE` runs it too). The launcher unpacks the interpreter once
# into ROOT/cpython-SHA256 (ROOT as the runtime finds it: $ZIPAPP_ROOT, $SHIV_ROOT, $CACHE_DIRECTORY,
# $XDG_CACHE_HOME/hatch-zipapp, ~/.cache/hatch-zipapp), then runs this file with it, isolated (-I).
hz_offset=000000000000
hz_size=@SIZE@
hz_sha256=@SHA256@
hz_python=@PYTHON@
hz_self=$0
case $hz_self in */*) ;; *) hz_self=$(command -v -- "$hz_self") || hz_self=$0 ;; esac
hz_die() {
  printf '%s: %s\n' "${hz_self##*/}" "$*" >&2
  exit 70
}
case ${ZIPAPP_PREPARE:-} in 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | [Oo][Nn]) hz_umask=022 ;; *) hz_umask=077 ;; esac

# hz_check BASE: BASE, every directory above it and BASE/cpython-SHA256 (if there) are owned by this user or root and
# writable by no one else (a directory above may be sticky: /tmp), as the runtime's roots.py checks its root. One
# `ls` for them all, which also gives this user's id (the owner of /proc/self/, else `id -u`). Sets hz_uid, hz_found
# (BASE/cpython-SHA256 is there) and hz_sticky (BASE is sticky and world-writable); hz_why when it fails.
hz_check() {
  hz_list=
  hz_path=$1
  while [ -n "$hz_path" ]; do
    hz_list="$hz_list$hz_path
"
    hz_path=${hz_path%/*}
  done
  hz_out=$(
    IFS='
'
    set -f
    # shellcheck disable=SC2086
    LC_ALL=C ls -ldn -- /proc/self/ $hz_list/ "$1/cpython-$hz_sha256" 2>/dev/null
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
      "$1/cpython-$hz_sha256" | "$1/cpython-$hz_sha256 -> "*)
        hz_found=1
        case $hz_mode in l*)
          hz_why="$1/cpython-$hz_sha256 is a symbolic link"
          return 1
          ;;
        esac
        ;;
      "$1")
        hz_listed=$hz_owner
        case $hz_mode in ????????w[tT]*) hz_sticky=1 ;; esac
        ;;
    esac
    case $hz_owner in 0 | "$hz_uid") ;; *)
      hz_why="$hz_name is owned by another user (uid $hz_owner)"
      return 1
      ;;
    esac
    case $hz_name in
      "$1" | "$1/cpython-$hz_sha256") ;;
      *) case $hz_mode in ?????????[tT]*) continue ;; esac ;; # a sticky directory above: /tmp
    esac
    case $hz_mode in ?????w* | ????????w*)
      if [ -n "$hz_sticky" ] && [ "$hz_name" = "$1" ]; then continue; fi # the caller uses a private directory in it
      hz_why="$hz_name is writable by group or others ($hz_mode)"
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

hz_root() {
  for hz_var in ZIPAPP_ROOT SHIV_ROOT; do
    eval "hz_value=\${$hz_var:-}"
    [ -n "$hz_value" ] || continue
    case $hz_value in \$*) # shiv's indirection: SHIV_ROOT=$OTHER
      hz_other=${hz_value#?}
      hz_other=${hz_other#\{}
      hz_other=${hz_other%\}}
      eval "hz_value=\${$hz_other:-}"
      [ -n "$hz_value" ] || hz_die "\$$hz_var names \$$hz_other, which is not set: set $hz_var to an absolute path"
      ;;
    esac
    case $hz_value in "~"*) hz_value=${HOME:-}${hz_value#"~"} ;; esac
    case $hz_value in /*) ;; *) hz_die "\$$hz_var=$hz_value is not an absolute path: set it to one" ;; esac
    hz_secure "$hz_value" "$hz_var" || hz_die "$hz_why"
    return
  done
  hz_tried=
  if [ -n "${CACHE_DIRECTORY:-}" ]; then
    hz_secure "${CACHE_DIRECTORY%%:*}" CACHE_DIRECTORY && [ -n "$hz_writable" ] && return
    hz_tried="$hz_tried ${CACHE_DIRECTORY%%:*}"
  fi
  if [ -n "${XDG_CACHE_HOME:-}" ]; then
    hz_secure "$XDG_CACHE_HOME/hatch-zipapp" XDG_CACHE_HOME && [ -n "$hz_writable" ] && return
    hz_tried="$hz_tried $XDG_CACHE_HOME/hatch-zipapp"
  fi
  if [ -n "${HOME:-}" ]; then
    hz_secure "$HOME/.cache/hatch-zipapp" HOME && [ -n "$hz_writable" ] && return
    hz_tried="$hz_tried $HOME/.cache/hatch-zipapp"
  fi
  hz_die "no writable directory to unpack Python into (tried:${hz_tried:- none, no \$HOME}). Set ZIPAPP_ROOT to one"
}

# hz_lock / hz_unlock: one start at a time unpacks. flock(1) where there is one (released by the kernel however the
# holder dies); else a lock directory holding the holder's PID, taken over once that process is gone.
hz_lock() {
  hz_lockfile=$hz_base/.cpython-$hz_sha256.lock
  if command -v flock >/dev/null 2>&1; then
    hz_saved_umask=$(umask)
    umask $hz_umask
    exec 9>>"$hz_lockfile" || hz_die "cannot open $hz_lockfile"
    umask "$hz_saved_umask"
    flock 9 || hz_die "cannot lock $hz_lockfile"
    return
  fi
  hz_lockdir=$hz_lockfile.d
  hz_waited=0
  until mkdir -- "$hz_lockdir" 2>/dev/null; do
    hz_holder=$(cat -- "$hz_lockdir/pid" 2>/dev/null) || hz_holder=
    if [ -n "$hz_holder" ] && ! kill -0 "$hz_holder" 2>/dev/null; then
      mv -- "$hz_lockdir" "$hz_lockdir.stale-$$" 2>/dev/null && rm -rf -- "$hz_lockdir.stale-$$"
      continue
    fi
    hz_waited=$((hz_waited + 1))
    [ "$hz_waited" -lt 600 ] || hz_die "waited 10 minutes for $hz_lockdir (held by PID $hz_holder)"
    sleep 1
  done
  echo $$ >"$hz_lockdir/pid"
}
hz_unlock() {
  if [ -n "${hz_lockdir:-}" ]; then rm -rf -- "$hz_lockdir"; else exec 9>&-; fi
}

# hz_unpack: the archive into a work directory, checked, then renamed into place: a start killed at any point leaves
# no ROOT/cpython-SHA256, only a work directory the next start removes.
hz_unpack() {
  [ -n "$hz_writable" ] || hz_die "$hz_dir is missing and $hz_base is not writable: unpack it there first (run this file once as its owner, with ZIPAPP_PREPARE=1)"
  hz_lock
  if [ ! -d "$hz_dir" ]; then
    rm -rf -- "$hz_base/.cpython-$hz_sha256.tmp-"*
    hz_work=$hz_base/.cpython-$hz_sha256.tmp-$$
    (umask $hz_umask && mkdir -- "$hz_work") || hz_die "cannot create $hz_work"
    if command -v sha256sum >/dev/null 2>&1; then
      hz_got=$(tail -c +$((hz_offset + 1)) -- "$hz_self" | head -c "$hz_size" | sha256sum)
      hz_got=${hz_got%% *}
    else # gzip's own check (CRC and length) of every byte
      hz_got=$hz_sha256
      tail -c +$((hz_offset + 1)) -- "$hz_self" | head -c "$hz_size" | gzip -t 2>/dev/null || hz_got="a damaged archive"
    fi
    [ "$hz_got" = "$hz_sha256" ] || hz_die "damaged file: its Python archive is $hz_got, not sha256 $hz_sha256; download it again"
    tail -c +$((hz_offset + 1)) -- "$hz_self" | head -c "$hz_size" | gzip -dc | (cd -- "$hz_work" && umask 022 && tar -xof -) ||
      hz_die "cannot unpack Python into $hz_work"
    [ -x "$hz_work/$hz_python" ] || hz_die "the Python archive has no $hz_python"
    chmod -R go-w -- "$hz_work" || hz_die "cannot set the modes of $hz_work"
    [ "$hz_umask" = 022 ] || chmod 700 -- "$hz_work"
    mv -- "$hz_work" "$hz_dir" || hz_die "cannot rename $hz_work to $hz_dir"
  fi
  hz_unlock
}

hz_root
hz_dir=$hz_base/cpython-$hz_sha256
if [ -z "$hz_found" ]; then
  [ ! -L "$hz_dir" ] || hz_die "refusing $hz_dir: it is a symbolic link"
  hz_unpack
  hz_check "$hz_base" || hz_die "refusing to run Python from $hz_dir: $hz_why"
fi
if [ -z "$hz_found" ] || [ -L "$hz_dir" ]; then hz_die "refusing $hz_dir: it is a symbolic link, or missing"; fi
exec "$hz_dir/$hz_python" -I "$hz_self" "$@"
exit 70
