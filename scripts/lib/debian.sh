# shellcheck shell=bash source-path=SCRIPTDIR
# scripts/lib/debian.sh: Debian packages and apt sources.
#
# Source it after (or instead of) common.sh; it sources common.sh itself.
#
# Stable interface (other scripts depend on these names; add, don't rename):
#   debian_missing_packages PKG...   prints, space-separated, the PKGs that dpkg does not report as
#                                    "install ok installed" (`dpkg -s`); prints nothing when all are there
#   ensure_debian_packages PKG...    installs the missing PKGs with apt-get (runs `apt-get update`
#                                    only when something is missing). When not root or apt-get is
#                                    absent it dies with one line naming exactly the packages to install.
#   debian_mirror [SUITE]            prints the Debian archive URI the machine's apt sources use for
#                                    SUITE (default bookworm), read from /etc/apt/sources.list and
#                                    /etc/apt/sources.list.d/*.list|*.sources (one-line and deb822
#                                    formats). GEFYRA_DEBIAN_MIRROR overrides. Dies when none is found.
#   GEFYRA_APT_ROOT                  directory holding sources.list(.d) (default /etc/apt; for tests)

[[ -n "${_GEFYRA_LIB_DEBIAN:-}" ]] && return 0
_GEFYRA_LIB_DEBIAN=1
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

debian_missing_packages() {
  local p missing=()
  for p in "$@"; do
    # read all of dpkg's output (a `grep -q` would close the pipe early and, under pipefail,
    # report an installed package as missing)
    [[ "$(dpkg -s "$p" 2>/dev/null | sed -n 's/^Status: //p')" == "install ok installed" ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) || printf '%s\n' "${missing[*]}"
}

ensure_debian_packages() {
  local missing
  missing="$(debian_missing_packages "$@")"
  if [[ -z "$missing" ]]; then
    gefyra_log "all $# Debian packages present"
    return 0
  fi
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    gefyra_die "missing Debian packages: $missing; install them as root with: apt-get install -y $missing"
  fi
  gefyra_log "installing missing Debian packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || gefyra_die "apt-get update failed; check the apt sources in /etc/apt and the network, then rerun"
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq $missing ||
    gefyra_die "apt-get install failed for: $missing; see apt-get's output above"
  missing="$(debian_missing_packages "$@")"
  [[ -z "$missing" ]] || gefyra_die "still missing after apt-get install: $missing"
}

# Prints the URIs of deb entries whose suites include SUITE, one per line, in file order.
_debian_source_uris() {
  local suite="$1" root="${GEFYRA_APT_ROOT:-/etc/apt}" f
  local files=()
  [[ -f "$root/sources.list" ]] && files+=("$root/sources.list")
  for f in "$root"/sources.list.d/*.list "$root"/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  for f in "${files[@]}"; do
    if [[ "$f" == *.sources ]]; then
      # deb822: paragraphs separated by blank lines; keys are case-insensitive
      awk -v suite="$suite" '
        function flush() {
          if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && enabled != "no" && uris != "")
            { split(uris, u, " "); print u[1] }
          types = ""; suites = ""; uris = ""; enabled = ""; key = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (key == "uris") uris = uris " " $0; else if (key == "suites") suites = suites " " $0; next }
        {
          i = index($0, ":"); if (i == 0) next
          key = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
          gsub(/^[ \t]+|[ \t]+$/, "", val)
          if (key == "types") types = val
          else if (key == "suites") suites = val
          else if (key == "uris") uris = val
          else if (key == "enabled") enabled = tolower(val)
        }
        END { flush() }' "$f"
    else
      # one-line: deb [options] URI SUITE COMPONENT...
      awk -v suite="$suite" '
        $1 != "deb" { next }
        {
          i = 2
          if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
          if ($(i + 1) == suite) print $i
        }' "$f"
    fi
  done
}

debian_mirror() {
  local suite="${1:-bookworm}" uri
  if [[ -n "${GEFYRA_DEBIAN_MIRROR:-}" ]]; then
    printf '%s\n' "$GEFYRA_DEBIAN_MIRROR"
    return 0
  fi
  uri="$(_debian_source_uris "$suite" | head -n1)"
  [[ -n "$uri" ]] ||
    gefyra_die "no apt source for Debian '$suite' in ${GEFYRA_APT_ROOT:-/etc/apt}/sources.list(.d); set GEFYRA_DEBIAN_MIRROR to a Debian mirror URL"
  printf '%s\n' "${uri%/}"
}
