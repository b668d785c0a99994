#!/usr/bin/env bash
# The Raspberry Pi path without a Pi: a clean aarch64 Debian bookworm, emulated with qemu, installs
# fer-edge as docs/raspberry-pi.md tells a Pi user and must give the same answers as this x86_64 machine.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/pi-check.sh [options]          (as root, on an x86_64 Debian/Ubuntu host)

Builds (once, then cached) an aarch64 Debian bookworm root file system with debootstrap, runs it with
qemu-aarch64-static through binfmt_misc + chroot, installs fer-edge there as a Pi user would (apt, a venv with
--system-site-packages, `pip install .`), runs `fer-edge` headless on the sample images, on the first
frames of samples/demo.mp4 (as lossless PNG frames, and as the video itself) and compares every frame
with the same runs on this x86_64 machine (scripts/pi_compare.py). Then does the same with
tflite-runtime 2.14 (numpy<2) instead of ai-edge-litert, in a second venv, compared with the same runtime on
this machine when --tflite-python gives one (else with the ai-edge-litert runs: two runtimes, whose int8
rounding can differ by an output step or two). Ends with PASS or FAIL and the time of each step.
Timings under emulation say nothing about speed on a Pi: only correctness.

options (each also settable by the environment variable in brackets):
  --cache DIR        cache: root file system, venvs, pip cache [FER_PI_CACHE, default
                     $HOME/.cache/fer-edge/pi-check]
  --out DIR          outputs and logs of this run, replaced at the end [FER_PI_OUT, default CACHE/last-run]
  --python PY        host python with the project's dependencies, for the x86_64 reference runs
                     [FER_PYTHON, default python3]
  --cpus "A B"       emulated CPU models, one aarch64 run each: cortex-a53 (Pi 3, Zero 2 W), cortex-a72
                     (Pi 4), cortex-a76 (Pi 5) [FER_PI_CPUS, default "cortex-a72 cortex-a76"]
  --frames N         frames of samples/demo.mp4 to use [FER_PI_FRAMES, default 60]
  --tolerance P      largest absolute probability difference accepted [FER_PI_TOLERANCE, default 0.02]
  --tflite-python PY host python with tflite-runtime 2.14, numpy<2 and opencv: the x86_64 reference for the
                     aarch64 tflite-runtime runs [FER_TFLITE_PYTHON, default .venv-tflite-runtime/bin/python
                     if it exists (scripts/check_runtimes.sh makes it), else none: ai-edge-litert is the reference]
  --worktree         test the working tree's tracked files (uncommitted changes included), not HEAD
  --no-tflite-runtime  skip the tflite-runtime venv
  --rebuild          delete the cached root file system (and its venvs) first
  -h, --help         this text

other environment: FER_PI_MIRROR (Debian mirror, default http://deb.debian.org/debian),
FER_PI_CA_BUNDLE (CA bundle handed to pip inside the root; default: the host's PIP_CERT, SSL_CERT_FILE
or /etc/ssl/certs/ca-certificates.crt, so pip there trusts what pip here trusts).
Exit status: 0 all comparisons pass, 1 a step or a comparison failed.
EOF
}

die() { printf 'pi-check: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'pi-check: %s\n' "$*"; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${FER_PI_CACHE:-${HOME:-/root}/.cache/fer-edge/pi-check}"
out="${FER_PI_OUT:-}"
py="${FER_PYTHON:-python3}"
tflite_py="${FER_TFLITE_PYTHON:-}"
cpus="${FER_PI_CPUS:-cortex-a72 cortex-a76}"
frames="${FER_PI_FRAMES:-60}"
tolerance="${FER_PI_TOLERANCE:-0.02}"
mirror="${FER_PI_MIRROR:-http://deb.debian.org/debian}"
worktree=0 tflite=1 rebuild=0

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --cache) cache="${2:?--cache needs a directory}"; shift ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    --python) py="${2:?--python needs a command}"; shift ;;
    --cpus) cpus="${2:?--cpus needs a list}"; shift ;;
    --frames) frames="${2:?--frames needs a number}"; shift ;;
    --tolerance) tolerance="${2:?--tolerance needs a number}"; shift ;;
    --tflite-python) tflite_py="${2:?--tflite-python needs a command}"; shift ;;
    --worktree) worktree=1 ;;
    --no-tflite-runtime) tflite=0 ;;
    --rebuild) rebuild=1 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[[ "$frames" =~ ^[1-9][0-9]*$ ]] || die "--frames must be a positive whole number, got '$frames'"
[[ "$tolerance" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--tolerance must be a number, got '$tolerance'"
for cpu in $cpus; do
  case "$cpu" in cortex-a53|cortex-a72|cortex-a76) ;;
    *) die "unknown CPU model '$cpu': use cortex-a53, cortex-a72 or cortex-a76 (qemu's 'max' is left out: \
its SME emulation in Debian 12's qemu gives wrong int8 results)" ;;
  esac
done
[ -n "$cpus" ] || die "--cpus is empty"
first_cpu="${cpus%% *}"
[ "$(id -u)" = 0 ] || die "run as root: debootstrap, chroot, apt-get and binfmt_misc need it"
[ "$(uname -m)" = x86_64 ] || die "this host is $(uname -m): the check compares aarch64 with an x86_64 host"
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || die "$repo is not a git checkout"
out="${out:-$cache/last-run}"

# ---------------------------------------------------------------------------------------------- state
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -n 9 || die "another pi-check is using $cache (lock $cache/.lock)"
work="$out.tmp.$$"
rm -rf "$work"
mkdir -p "$work/logs"
exec > >(tee -a "$work/pi-check.log") 2>&1

binfmt=/proc/sys/fs/binfmt_misc
mounted_binfmt=0 registered_binfmt=0 ok=0
cleanup() {
  local status=$?
  if [ "$registered_binfmt" = 1 ]; then echo -1 > "$binfmt/qemu-aarch64" 2>/dev/null || true; fi
  if [ "$mounted_binfmt" = 1 ]; then umount "$binfmt" 2>/dev/null || true; fi
  rm -rf "$cache/rootfs.tmp.$$"
  if [ -d "$work" ]; then
    local final="$out"
    [ "$ok" = 1 ] || final="$out.failed"
    rm -rf "$final" && mv "$work" "$final" && printf 'pi-check: outputs and logs in %s\n' "$final"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step_names=() step_secs=() step_name="" step_t0=0
step() {
  [ -z "$step_name" ] || step_done
  step_name="$1" step_t0="$(date +%s.%N)"
  say "== $((${#step_names[@]} + 1)). $step_name"
}
step_done() {
  step_names+=("$step_name")
  step_secs+=("$(awk -v a="$step_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')")
  step_name=""
}
# logged NAME CMD...: CMD's output goes to logs/NAME.log; on failure show its end and stop.
logged() {
  local log="$work/logs/$1.log"
  shift
  if ! "$@" >>"$log" 2>&1; then
    tail -n 25 "$log" | sed 's/^/    | /'
    die "$step_name: '$*' failed (log: logs/${log##*/})"
  fi
}

# ------------------------------------------------------------------------------------------ emulation
root=""  # the aarch64 root file system in use

# pi_cpuinfo CPU: a file with a Raspberry Pi's /proc/cpuinfo for that CPU model, bound over /proc/cpuinfo in the
# root. qemu-user shows the host's x86 /proc/cpuinfo, and LiteRT's CPU detection crashes on it (SIGSEGV in the
# Interpreter constructor); a real Pi shows this one.
pi_cpuinfo() {
  local cpu="$1" file="$cache/cpuinfo-$1" part variant revision features model code i
  case "$cpu" in
    cortex-a53) part=0xd03 variant=0x0 revision=4 features="fp asimd evtstrm crc32 cpuid"
                model="Raspberry Pi 3 Model B Rev 1.2" code=a02082 ;;
    cortex-a72) part=0xd08 variant=0x0 revision=3 features="fp asimd evtstrm crc32 cpuid"
                model="Raspberry Pi 4 Model B Rev 1.5" code=d03115 ;;
    cortex-a76) part=0xd0b variant=0x4 revision=1
                features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
                model="Raspberry Pi 5 Model B Rev 1.0" code=d04170 ;;
  esac
  {
    for ((i = 0; i < $(nproc --all); i++)); do
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$features"
      printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" \
        "$revision"
    done
    printf 'Hardware\t: BCM2835\nRevision\t: %s\nSerial\t\t: 10000000fe000000\nModel\t\t: %s\n' "$code" "$model"
  } >"$file.tmp"
  mv "$file.tmp" "$file"
  printf '%s' "$file"
}

binfmt_ready() {
  [ -r "$binfmt/qemu-aarch64" ] && grep -q '^enabled' "$binfmt/qemu-aarch64" &&
    grep -q '^flags:.*F' "$binfmt/qemu-aarch64"
}
binfmt_setup() {  # make aarch64 binaries run through qemu-aarch64-static, as Debian's systemd-binfmt would
  binfmt_ready && return 0
  if [ ! -e "$binfmt/register" ]; then
    mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || return 1
    mounted_binfmt=1
  fi
  [ -e "$binfmt/qemu-aarch64" ] && return 1  # someone else's entry without F: leave it alone
  [ -r /usr/lib/binfmt.d/qemu-aarch64.conf ] || return 1
  grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register" 2>/dev/null || return 1
  registered_binfmt=1
  binfmt_ready
}

# inroot USER CPU CMD...: run CMD inside $root as USER (root or pi) on the emulated CPU, with a clean
# environment (nothing of this host's PIP_*, proxies or paths leaks in), under nice.
inroot() {
  local user="$1" cpu="$2" home=/root cpuinfo
  shift 2
  [ "$user" = root ] || home="/home/$user"
  cpuinfo="$(pi_cpuinfo "$cpu")"
  local env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" USER="$user"
    LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    PIP_PROGRESS_BAR=off)
  [ ! -f "$root/usr/local/share/fer-pi-check/host-ca.crt" ] ||
    env+=(PIP_CERT=/usr/local/share/fer-pi-check/host-ca.crt)
  local cmd=("$@")
  [ "$user" = root ] || cmd=(setpriv --reuid="$user" --regid="$user" --init-groups "${cmd[@]}")
  # A private mount namespace: proc, cpuinfo, dev and sys mounts vanish with the command.
  # shellcheck disable=SC2016  # expanded by the inner shell
  nice -n 10 env -i "${env[@]}" QEMU_CPU="$cpu" unshare --mount --propagation private -- /bin/sh -c '
    r="$1" c="$2"; shift 2
    mount -t proc proc "$r/proc" && mount --bind "$c" "$r/proc/cpuinfo" &&
      mount --rbind /dev "$r/dev" && mount --rbind /sys "$r/sys" && cd "$r" && exec chroot "$r" "$@"' \
    sh "$root" "$cpuinfo" "${cmd[@]}"
}

# ======================================================================================== 1. host tools
step "host tools (debootstrap, qemu-user-static)"
apt_install() {
  say "installing on the host: $*"
  logged host-apt nice -n 10 apt-get update -q
  logged host-apt env DEBIAN_FRONTEND=noninteractive nice -n 10 apt-get install -y -q --no-install-recommends "$@"
}
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
[ ${#need[@]} = 0 ] || apt_install "${need[@]}"
binfmt_setup || die "binfmt_misc cannot run aarch64 binaries here (mounting it or registering \
qemu-aarch64 with the F flag failed). proot is no substitute: under proot -q a venv's python does not know it \
is in a venv, and processes that drop root cannot exec (see docs/raspberry-pi.md)"
say "aarch64 binaries run through binfmt_misc + qemu-aarch64-static$(
  [ "$registered_binfmt" = 0 ] || printf ' (registered for this run, removed at exit)')"
# shellcheck disable=SC1091
say "host: $(. /etc/os-release && echo "$PRETTY_NAME"), $(qemu-aarch64-static --version | head -1)"

# ================================================================================ 2. aarch64 root file system
step "aarch64 Debian bookworm root file system"
packages="python3 python3-venv python3-pip python3-numpy ca-certificates"
base_key="fer-pi-check root v1: bookworm arm64 minbase + $packages + user pi"
if [ "$rebuild" = 1 ] || [ "$(cat "$cache/rootfs/.fer-pi-check" 2>/dev/null)" != "$base_key" ]; then
  grep -qF " $cache/rootfs" /proc/self/mounts && die "something is mounted under $cache/rootfs: unmount it first"
  rm -rf "$cache/rootfs"
  root="$cache/rootfs.tmp.$$"
  say "building $cache/rootfs (first stage on the host, second stage and apt emulated)"
  logged debootstrap nice -n 10 debootstrap --foreign --arch=arm64 --variant=minbase bookworm "$root" "$mirror"
  if [ -L "$root/proc" ]; then rm "$root/proc" && mkdir "$root/proc"; fi  # a container may leave a symlink
  logged debootstrap inroot root "$first_cpu" env DEBOOTSTRAP_DIR=/debootstrap /debootstrap/debootstrap --second-stage
  cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  apt=(apt-get -q)
  logged root-apt inroot root "$first_cpu" "${apt[@]}" update
  # python3-numpy: on Raspberry Pi OS it comes with python3-picamera2, and a --system-site-packages venv sees it.
  # shellcheck disable=SC2086
  logged root-apt inroot root "$first_cpu" "${apt[@]}" install -y --no-install-recommends $packages
  logged root-apt inroot root "$first_cpu" "${apt[@]}" clean
  logged root-apt inroot root "$first_cpu" useradd --create-home --shell /bin/bash --groups video pi
  printf '%s' "$base_key" >"$root/.fer-pi-check"
  mv "$root" "$cache/rootfs"
else
  say "reusing $cache/rootfs (--rebuild to start over)"
fi
root="$cache/rootfs"
cp /etc/resolv.conf "$root/etc/resolv.conf"
ca="${FER_PI_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}"
if [ -f "$ca" ]; then
  mkdir -p "$root/usr/local/share/fer-pi-check" && cp "$ca" "$root/usr/local/share/fer-pi-check/host-ca.crt"
fi
pi_ids="$(awk -F: '$1 == "pi" { print $3 ":" $4 }' "$root/etc/passwd")"
[ -n "$pi_ids" ] || die "no user pi in $root: run with --rebuild"
# shellcheck disable=SC2016  # expanded inside the root
say "root: $(inroot root "$first_cpu" sh -c '. /etc/os-release; echo "$PRETTY_NAME, $(uname -m), $(python3 -V)"')"

# ================================================================== 3. checkout, frames, x86_64 reference runs
step "checkout snapshot, clip frames, x86_64 reference runs"
rev=HEAD
if [ "$worktree" = 1 ]; then rev="$(git -C "$repo" stash create)"; rev="${rev:-HEAD}"; fi
commit="$(git -C "$repo" rev-parse --short "$rev")"
say "testing $( [ "$worktree" = 1 ] && echo "the working tree" || echo HEAD) ($commit); untracked files are left out"
mkdir "$work/src"
git -C "$repo" archive "$rev" | tar -x -C "$work/src"
"$py" -c "import cv2, numpy" 2>/dev/null ||
  die "the host python '$py' cannot import cv2 and numpy: give the project's one, e.g. FER_PYTHON=.venv/bin/python"
mkdir "$work/frames"
(cd "$work/src" && "$py" - "$frames" "$work/frames" <<'EOF'
import sys
import cv2
count, folder = int(sys.argv[1]), sys.argv[2]
capture = cv2.VideoCapture("samples/demo.mp4")
for index in range(count):
    ok, frame = capture.read()
    if not ok:
        sys.exit(f"samples/demo.mp4 has only {index} frames")
    cv2.imwrite(f"{folder}/demo_{index:04d}.png", frame)
EOF
) || die "cannot extract $frames frames from samples/demo.mp4"
guest_src="$root/home/pi/fer-edge" guest_out="$root/home/pi/pi-check"
rm -rf "$guest_src" "$guest_out"
cp -a "$work/src" "$guest_src"
mkdir -p "$guest_out/out"
cp -a "$work/frames" "$guest_out/frames"
chown -R "$pi_ids" "$guest_src" "$guest_out"
mkdir "$work/jsonl"
# x86_64: the host python on the same snapshot (PYTHONPATH: its edge/, not an installed one).
x86_run() {  # PYTHON NAME SOURCE [ARGS...]
  local python="$1" name="$2" source="$3"
  shift 3
  (cd "$work/src" && logged "x86_64-$name" env PYTHONPATH="$work/src" nice -n 10 "$python" -m edge --source "$source" \
    --headless --no-smooth --jsonl "$work/jsonl/x86_64-$name.jsonl" "$@")
}
x86_runs() {  # PYTHON SUFFIX [ARGS...]: the photos, the PNG frames and the clip
  local python="$1" suffix="$2"
  shift 2
  x86_run "$python" "images$suffix" samples "$@"
  x86_run "$python" "frames$suffix" "$work/frames" "$@"
  x86_run "$python" "video$suffix" samples/demo.mp4 --max-frames "$frames" "$@"
}
x86_runs "$py" ""
x86_backend="$(sed -n 's/.*interpreter \([a-z-]*\),.*/\1/p' "$work/logs/x86_64-images.log" | head -1)"
say "x86_64 reference: $("$py" -V 2>&1), interpreter ${x86_backend:-?}"
if [ -z "$tflite_py" ] && [ -x "$repo/.venv-tflite-runtime/bin/python" ]; then
  tflite_py="$repo/.venv-tflite-runtime/bin/python"
fi
tflite_ref=""  # the x86_64 runs the aarch64 tflite-runtime runs are compared with: "" (ai-edge-litert's) or "-tflite"
if [ "$tflite" = 1 ] && [ -n "$tflite_py" ]; then
  "$tflite_py" -c "import cv2, numpy, tflite_runtime" 2>/dev/null ||
    die "--tflite-python '$tflite_py' cannot import cv2, numpy and tflite_runtime"
  x86_runs "$tflite_py" "-tflite" --interpreter tflite-runtime
  tflite_ref="-tflite"
  say "x86_64 reference for tflite-runtime: $("$tflite_py" -V 2>&1), tflite-runtime on this machine"
fi

# ============================================================================ venvs inside the aarch64 root
key="$(cat "$work/src/setup.cfg" "$work/src/pyproject.toml" | sha256sum | cut -c1-16)"
# venv NAME LOGNAME CREATE_SCRIPT UPDATE_SCRIPT: a cached venv is reused while setup.cfg/pyproject.toml and the
# scripts are unchanged (then only UPDATE runs: the project itself is reinstalled); otherwise made anew.
venv() {
  local name="$1" log="$2" create="$3" update="$4" dir="$root/home/pi/.venvs/$1"
  local want
  want="$key $(printf '%s' "$create" | sha256sum | cut -c1-16)"
  if [ "$rebuild" = 0 ] && [ "$(cat "$dir/.fer-pi-check" 2>/dev/null)" = "$want" ]; then
    say "reusing venv ~/.venvs/$name; reinstalling the project"
    inroot pi "$first_cpu" sh -ec "$update" >>"$work/logs/$log.log" 2>&1 || return 1
  else
    rm -rf "$dir"
    inroot pi "$first_cpu" sh -ec "$create" >>"$work/logs/$log.log" 2>&1 || { rm -rf "$dir"; return 1; }
    printf '%s' "$want" >"$dir/.fer-pi-check"
  fi
}
versions() {  # VENV: what matters of pip list
  inroot pi "$first_cpu" "/home/pi/.venvs/$1/bin/python" -m pip list 2>/dev/null |
    awk 'tolower($1) ~ /^(numpy|opencv-python-headless|ai-edge-litert|tflite-runtime|fer-edge)$/ { printf "%s %s, ", $1, $2 }' |
    sed 's/, $//'
}
# aarch64_run VENV CPU NAME SOURCE [ARGS...]
aarch64_run() {
  local venv="$1" cpu="$2" name="$3" source="$4"
  shift 4
  # shellcheck disable=SC2016  # expanded inside the root
  logged "aarch64-$name" inroot pi "$cpu" sh -ec 'cd "$HOME/pi-check" && exec "$@"' sh \
    "/home/pi/.venvs/$venv/bin/fer-edge" --source "$source" --headless --no-smooth \
    --jsonl "/home/pi/pi-check/out/aarch64-$name.jsonl" "$@"
  cp "$guest_out/out/aarch64-$name.jsonl" "$work/jsonl/"
}
# expect_backend NAME BACKEND: the run's start line names the interpreter it loaded
expect_backend() {
  grep -q "interpreter $2," "$work/logs/aarch64-$1.log" ||
    die "aarch64-$1 did not load $2: $(grep -m1 'interpreter' "$work/logs/aarch64-$1.log" || echo 'no start line')"
}
runs=()  # "NAME MODE REFERENCE" triples: aarch64-NAME is compared with x86_64-REFERENCE
# aarch64_runs VENV CPU TAG BACKEND [REFERENCE_SUFFIX]: the photos, the PNG frames and the clip, each checked to
# have loaded BACKEND and queued for comparison (PNG and photos strictly, the separately decoded clip by structure)
aarch64_runs() {
  local venv="$1" cpu="$2" tag="$3" backend="$4" ref="${5:-}" name
  aarch64_run "$venv" "$cpu" "images-$cpu-$tag" /home/pi/fer-edge/samples
  aarch64_run "$venv" "$cpu" "frames-$cpu-$tag" /home/pi/pi-check/frames
  aarch64_run "$venv" "$cpu" "video-$cpu-$tag" /home/pi/fer-edge/samples/demo.mp4 --max-frames "$frames"
  for name in images frames video; do expect_backend "$name-$cpu-$tag" "$backend"; done
  runs+=("images-$cpu-$tag strict images$ref" "frames-$cpu-$tag strict frames$ref"
        "video-$cpu-$tag decoded video$ref")
}

# ================================================================================== 4. ai-edge-litert venv
step "aarch64 venv with ai-edge-litert (pip install .)"
venv fer-edge venv-litert \
  'python3 -m venv --system-site-packages ~/.venvs/fer-edge
   . ~/.venvs/fer-edge/bin/activate
   cd ~/fer-edge
   pip install .' \
  '. ~/.venvs/fer-edge/bin/activate; cd ~/fer-edge; pip install .' ||
  { tail -n 25 "$work/logs/venv-litert.log" | sed 's/^/    | /'; die "pip install . failed in the aarch64 root (log: logs/venv-litert.log)"; }
litert_versions="$(versions fer-edge)"
system_numpy="$(inroot pi "$first_cpu" /usr/bin/python3 -c 'import numpy; print(numpy.__version__)')"
say "venv: $litert_versions (Debian's python3-numpy $system_numpy stays in the system site-packages)"
installed_model="$(inroot pi "$first_cpu" sh -c 'cd / && ~/.venvs/fer-edge/bin/python -c \
  "from edge.pipeline import default_model; print(default_model())"')"
[ "$(sha256sum <"$root$installed_model" | cut -c1-64)" = "$(sha256sum <"$work/src/models/fer_compact_int8.tflite" |
  cut -c1-64)" ] || die "the installed default model $installed_model differs from models/fer_compact_int8.tflite"
say "installed default model: $installed_model (same bytes as models/fer_compact_int8.tflite)"

# ================================================================================= 5. aarch64 runs, litert
for cpu in $cpus; do
  step "aarch64 runs on $cpu, ai-edge-litert"
  aarch64_runs fer-edge "$cpu" litert ai-edge-litert
done
# picam: not in Debian's archive (Raspberry Pi OS adds python3-picamera2); fer-edge must say what to install.
set +e
inroot pi "$first_cpu" /home/pi/.venvs/fer-edge/bin/fer-edge --source picam --headless --max-frames 1 \
  >"$work/logs/aarch64-picam.log" 2>&1
picam_status=$?
set -e
if [ "$picam_status" = 2 ] && grep -q "python3-picamera2" "$work/logs/aarch64-picam.log"; then
  picam_result="no picamera2 here (Debian bookworm has no python3-picamera2); fer-edge --source picam exits 2 with: \
$(grep -m1 'error' "$work/logs/aarch64-picam.log" | cut -c1-160)"
else
  picam_result="UNEXPECTED: fer-edge --source picam exited $picam_status (log: logs/aarch64-picam.log)"
fi
say "picam: $picam_result"

# ============================================================================ 6. tflite-runtime venv and runs
tflite_result="skipped (--no-tflite-runtime)"
if [ "$tflite" = 1 ]; then
  step "aarch64 venv with tflite-runtime 2.14 (numpy<2) and runs on $first_cpu"
  if venv fer-edge-tflite venv-tflite \
    'python3 -m venv --system-site-packages ~/.venvs/fer-edge-tflite
     . ~/.venvs/fer-edge-tflite/bin/activate
     cd ~/fer-edge
     pip install "tflite-runtime==2.14.0" "numpy<2" "opencv-python-headless>=4.8,<5"
     pip install --no-deps .' \
    '. ~/.venvs/fer-edge-tflite/bin/activate; cd ~/fer-edge; pip install --no-deps .'; then
    tflite_versions="$(versions fer-edge-tflite)"
    say "venv: $tflite_versions (no ai-edge-litert: the automatic fallback must pick tflite-runtime)"
    aarch64_runs fer-edge-tflite "$first_cpu" tflite tflite-runtime "$tflite_ref"
    tflite_result="installed ($tflite_versions); --interpreter auto fell back to it; compared with \
$([ -n "$tflite_ref" ] && echo "tflite-runtime on x86_64" || echo "ai-edge-litert on x86_64 (no --tflite-python)")"
  else
    tflite_result="DID NOT INSTALL: $(grep -E '^(ERROR|error)' "$work/logs/venv-tflite.log" | tail -n 2 | tr '\n' ' ')"
    say "tflite-runtime: $tflite_result (log: logs/venv-tflite.log)"
  fi
fi

# ================================================================================================ 7. compare
step "compare every frame with x86_64"
failed=0 results=()
for entry in "${runs[@]}"; do
  read -r name mode reference <<<"$entry"
  args=(--tolerance "$tolerance" --name "$name")
  [ "$mode" = strict ] || args+=(--decoded)
  if "$py" "$repo/scripts/pi_compare.py" "$work/jsonl/x86_64-$reference.jsonl" "$work/jsonl/aarch64-$name.jsonl" \
    "${args[@]}" >"$work/logs/compare-$name.log" 2>&1; then :; else failed=1; fi
  sed 's/^/    /' "$work/logs/compare-$name.log" | grep -v '^    *frame ' || true
  results+=("$(tail -n 1 "$work/logs/compare-$name.log")")
done
step_done

# ================================================================================================= report
{
  echo "pi-check report: fer-edge $commit, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "host: $(uname -m), $("$py" -V 2>&1), interpreter ${x86_backend:-?} (reference)"
  echo "aarch64: Debian bookworm arm64 under qemu-user (binfmt_misc + chroot), CPU models: $cpus"
  echo "venv (ai-edge-litert): $litert_versions; Debian python3-numpy $system_numpy in the system site-packages"
  echo "tflite-runtime: $tflite_result"
  echo "picam: $picam_result"
  echo "inputs: samples/ images (2), the first $frames frames of samples/demo.mp4 as PNG (same pixels on both)"
  echo "        and the same frames decoded from the .mp4 on each side; --no-smooth; tolerance $tolerance"
  printf '%s\n' "${results[@]}"
  echo "timings (emulated: correctness only, not speed):"
  for i in "${!step_names[@]}"; do printf '  %6ss  %s\n' "${step_secs[$i]}" "${step_names[$i]}"; done
  total=0
  for s in "${step_secs[@]}"; do total=$((total + s)); done
  printf '  %6ss  total\n' "$total"
  if [ "$failed" = 0 ]; then echo "PASS: every comparison passed"; else echo "FAIL: see the FAIL lines above"; fi
} >"$work/report.txt.tmp"
mv "$work/report.txt.tmp" "$work/report.txt"
echo
cat "$work/report.txt"
[ "$failed" = 0 ] || exit 1
ok=1
