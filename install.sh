#!/usr/bin/env bash
# Anime or Cartoon? installer.
#
# On a Raspberry Pi (Raspberry Pi OS Bookworm, Pi 4 or Pi 5) it installs the appliance:
# apt packages, Coral's apt repository and libedgetpu, I2C, a dedicated system user, udev
# rules for the Edge TPU, a venv in /opt/anime-or-cartoon, the model bundle, the config (only
# when absent) and the systemd service. On any other machine it sets up the development
# environment (.venv in the repository) instead, and says so.
#
# Idempotent: running it again changes only what is missing or out of date.
# Run ./install.sh --help for the options; --dry-run prints every step and changes nothing.
set -euo pipefail

APP=anime-or-cartoon
SERVICE_USER=aoc
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Tests (and packagers' dry runs) may redirect every system path under another root and say which
# device-tree model file to read. Neither is needed in normal use.
ROOT="${AOC_INSTALL_ROOT:-}"
MODEL_FILE="${AOC_MODEL_FILE:-/proc/device-tree/model}"

OPT_DIR="$ROOT/opt/$APP"
VENV="$OPT_DIR/venv"
SHARE_DIR="$ROOT/usr/share/$APP"
MODEL_DEST="$SHARE_DIR/models/default"
CONFIG_DIR="$ROOT/etc/$APP"
CONFIG_FILE="$CONFIG_DIR/config.toml"
UNIT_FILE="$ROOT/etc/systemd/system/$APP.service"
UDEV_RULES="$ROOT/etc/udev/rules.d/99-$APP-edgetpu.rules"
STATE_DIR="$ROOT/var/lib/$APP"
# What the installer itself created (e.g. the apex group), so --purge removes only that.
INSTALL_RECORD_DIR="$ROOT/var/lib/$APP-installer"
POLKIT_RULES="$ROOT/etc/polkit-1/rules.d/50-$APP.rules"
JOURNALD_DROPIN="$ROOT/etc/systemd/journald.conf.d/50-$APP.conf"
# The unit's drop-ins (systemctl edit), the user's own settings: removed by --purge only.
UNIT_DROPIN_DIR="$ROOT/etc/systemd/system/$APP.service.d"
MODULES_LOAD="$ROOT/etc/modules-load.d/$APP.conf"
MODULES_LOAD_APEX="$ROOT/etc/modules-load.d/$APP-apex.conf"
KEYRING_DIR="$ROOT/etc/apt/keyrings"
CORAL_KEYRING="$KEYRING_DIR/coral-edgetpu.gpg"
CORAL_LIST="$ROOT/etc/apt/sources.list.d/coral-edgetpu.list"
CORAL_KEY_URL="https://packages.cloud.google.com/apt/doc/apt-key.gpg"
# The fingerprint of Google's "Artifact Registry Repository Signer" key, one of the keys
# served at CORAL_KEY_URL (gpg --show-keys of that file lists it beside the "Rapture
# Automatic Signing Key" A362B822F6DEDC652817EA46B53DC80D13EDEF05; see kubernetes/release
# issue 3102). The download must contain a key with exactly this fingerprint or the
# installer stops. If Google rotates the key, check the new fingerprint against Google's
# announcement and update it here.
CORAL_KEY_FINGERPRINT="35BAA0B33E9EB396F59CA838C0BA5CE6DC6315A3"
CORAL_REPO_URL="https://packages.cloud.google.com/apt"

# polkitd: the power button's `systemctl poweroff` as the aoc user goes through the
# installed polkit rule, and Raspberry Pi OS Lite may come without polkit
APT_PACKAGES=(python3-venv python3-pip python3-picamera2 python3-lgpio i2c-tools
    ca-certificates curl gpg polkitd)
SERVICE_GROUPS=(video i2c gpio spi plugdev apex)
# The Coral USB Accelerator's IDs: before the runtime uploads its firmware, and after.
CORAL_USB_IDS=(1a6e:089a 18d1:9302)
# Temporary folders removed on any exit, also when a download fails under set -e.
CLEANUP_DIRS=()

DRY_RUN=0
UNINSTALL=0
PURGE=0
TARGET="${AOC_TARGET:-}"
MAX_FREQUENCY=0
LIBEDGETPU_DEB=""
WITH_SPI=0
I2C_BAUDRATE=""
WITH_PYCORAL=0
WITH_TRAIN=0
VOLATILE_JOURNAL=0
NO_START=0

usage() {
    cat <<'EOF'
Usage: ./install.sh [options]

On a Raspberry Pi: install the appliance as a systemd service (needs root: use sudo).
Elsewhere: set up the development environment in ./.venv (no root needed).

Options:
  --dry-run            print every step, change nothing
  --uninstall          remove the service, venv, model, udev/polkit rules (keeps your
                       config, the aoc user, apt packages and the Coral repository)
  --purge              with --uninstall: also remove the config, the state folder
                       /var/lib/anime-or-cartoon, the aoc user, the apex group (if this
                       installer created it) and the Coral apt repository and key
  --target pi|dev      force the target instead of detecting a Raspberry Pi
  --max-frequency      install libedgetpu1-max (faster, but the USB Accelerator gets hot)
  --libedgetpu-deb FILE  install this libedgetpu package (a .deb you downloaded, built
                       for the TFLite runtime's TensorFlow) instead of Coral's 16.0, which
                       was built for TensorFlow 2.5 (see README, "How it runs")
  --spi                for an SPI panel (display.interface = "spi"): enable SPI and install
                       python3-spidev and python3-rpi-lgpio (luma drives the DC and RST pins
                       through RPi.GPIO's API; rpi-lgpio provides it on a Pi 5 too, and apt
                       replaces python3-rpi.gpio with it)
  --i2c-baudrate HZ    set the I2C bus speed, e.g. 400000 (an SSD1306 frame then takes ~23 ms)
  --with-pycoral       also install python3-pycoral from Coral's apt repository (optional;
                       the appliance does not need it)
  --volatile-journal   keep the journal in RAM only (no log writes to the SD card)
  --no-start           install and enable the service, but do not (re)start it now
  --with-train         dev target: also install the training extra (TensorFlow, large)
  -h, --help           this text

Environment (for tests): AOC_TARGET=pi|dev, AOC_INSTALL_ROOT=DIR (prefix for system paths),
AOC_MODEL_FILE=FILE (instead of /proc/device-tree/model).
EOF
}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local dir
    for dir in "${CLEANUP_DIRS[@]}"; do
        rm -rf -- "$dir"
    done
}
trap cleanup EXIT

# Print a command, then run it unless this is a dry run.
run() {
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY_RUN" -eq 0 ]; then
        "$@"
    fi
}

# install_file SRC DEST MODE: copy a file into place (creating its folder).
install_file() {
    local src="$1" dest="$2" mode="$3"
    if [ ! -f "$src" ]; then
        if [ "$DRY_RUN" -eq 1 ]; then
            warn "$src is missing from the repository: a real run would stop here"
            return
        fi
        die "$src is missing from the repository; re-clone it"
    fi
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        say "$dest is up to date"
        return
    fi
    run install -D -m "$mode" "$src" "$dest"
}

# remove_path PATH: delete a file or folder if it exists.
remove_path() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        run rm -rf -- "$1"
    else
        say "$1 is already absent"
    fi
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --purge) PURGE=1 ;;
            --target)
                [ $# -ge 2 ] || die "--target needs a value: pi or dev"
                TARGET="$2"
                shift
                ;;
            --target=*) TARGET="${1#*=}" ;;
            --max-frequency) MAX_FREQUENCY=1 ;;
            --libedgetpu-deb)
                [ $# -ge 2 ] || die "--libedgetpu-deb needs a .deb file"
                LIBEDGETPU_DEB="$2"
                shift
                ;;
            --libedgetpu-deb=*) LIBEDGETPU_DEB="${1#*=}" ;;
            --i2c-baudrate)
                [ $# -ge 2 ] && [ -n "$2" ] || die "--i2c-baudrate needs a value in Hz, e.g. 400000"
                I2C_BAUDRATE="$2"
                shift
                ;;
            --i2c-baudrate=*)
                I2C_BAUDRATE="${1#*=}"
                [ -n "$I2C_BAUDRATE" ] || die "--i2c-baudrate needs a value in Hz, e.g. 400000"
                ;;
            --with-pycoral) WITH_PYCORAL=1 ;;
            --spi) WITH_SPI=1 ;;
            --with-train) WITH_TRAIN=1 ;;
            --volatile-journal) VOLATILE_JOURNAL=1 ;;
            --no-start) NO_START=1 ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) die "unknown option $1 (see ./install.sh --help)" ;;
        esac
        shift
    done
    case "$TARGET" in
        "" | pi | dev) ;;
        *) die "--target must be pi or dev, not '$TARGET'" ;;
    esac
    if [ -n "$I2C_BAUDRATE" ]; then
        case "$I2C_BAUDRATE" in
            *[!0-9]*) die "--i2c-baudrate must be a number of Hz (e.g. 400000), not '$I2C_BAUDRATE'" ;;
        esac
        # more than 7 digits first: a number past the shell's integers makes `[` fail, and
        # a failing test inside `if` would let it through
        if [ "${#I2C_BAUDRATE}" -gt 7 ] || [ "$I2C_BAUDRATE" -lt 10000 ] \
            || [ "$I2C_BAUDRATE" -gt 3400000 ]; then
            die "--i2c-baudrate $I2C_BAUDRATE is outside 10000..3400000 Hz; 400000 suits an SSD1306"
        fi
    fi
    if [ "$PURGE" -eq 1 ] && [ "$UNINSTALL" -eq 0 ]; then
        die "--purge only goes with --uninstall"
    fi
    if [ -n "$LIBEDGETPU_DEB" ]; then
        case "$LIBEDGETPU_DEB" in
            *.deb) ;;
            *) die "--libedgetpu-deb wants a .deb file, not '$LIBEDGETPU_DEB'" ;;
        esac
        [ -f "$LIBEDGETPU_DEB" ] ||
            die "--libedgetpu-deb: $LIBEDGETPU_DEB is not a file (download it first)"
        [ "$MAX_FREQUENCY" -eq 0 ] ||
            die "--max-frequency picks Coral's libedgetpu1-max; with --libedgetpu-deb the" \
                "package you give decides the clock (its name says std or max)"
        # apt installs a local package only from a path with a slash in it
        LIBEDGETPU_DEB="$(cd "$(dirname "$LIBEDGETPU_DEB")" && pwd)/$(basename "$LIBEDGETPU_DEB")"
    fi
}

# The device-tree model names the board ("Raspberry Pi 5 Model B Rev 1.0").
board_model() {
    if [ -r "$MODEL_FILE" ]; then
        tr -d '\0' <"$MODEL_FILE"
    fi
}

detect_target() {
    if [ -n "$TARGET" ]; then
        return
    fi
    case "$(board_model)" in
        "Raspberry Pi"*) TARGET=pi ;;
        *) TARGET=dev ;;
    esac
}

# ---------------------------------------------------------------------------------------
# Development machine
# ---------------------------------------------------------------------------------------
install_dev() {
    local model extras=dev
    model="$(board_model)"
    say "This is not a Raspberry Pi (${model:-no $MODEL_FILE}): setting up the DEVELOPMENT" \
        "environment in $REPO_DIR/.venv (use --target pi to install the appliance)."
    if [ "$WITH_TRAIN" -eq 1 ]; then
        extras=dev,train
    fi
    if [ "$WITH_SPI" -eq 1 ] || [ -n "$LIBEDGETPU_DEB" ] || [ "$MAX_FREQUENCY" -eq 1 ]; then
        warn "--spi, --libedgetpu-deb and --max-frequency are for the appliance on a" \
            "Raspberry Pi (--target pi); ignored for the development environment"
    fi
    cd "$REPO_DIR"
    if [ -x .venv/bin/python ]; then
        say ".venv exists; updating it"
    else
        python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
            die "Python 3.11 or newer is needed; python3 is $(python3 --version 2>&1)"
        run python3 -m venv .venv ||
            die "python3 -m venv failed; on Debian/Ubuntu install python3-venv first"
    fi
    run .venv/bin/pip install -e ".[$extras]"
    say "Done. Try: .venv/bin/aoc run --duration 20"
}

uninstall_dev() {
    say "Development target: removing $REPO_DIR/.venv"
    remove_path "$REPO_DIR/.venv"
}

# ---------------------------------------------------------------------------------------
# Raspberry Pi appliance
# ---------------------------------------------------------------------------------------
require_root() {
    if [ "$DRY_RUN" -eq 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
        die "installing the appliance needs root: run sudo ./install.sh $*"
    fi
}

check_os() {
    local codename=""
    if [ -r /etc/os-release ]; then
        codename="$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')"
    fi
    if [ "$codename" != bookworm ]; then
        warn "this installer targets Raspberry Pi OS Bookworm; this is '${codename:-unknown}'"
    fi
    # the userland, not the kernel: a Pi 5 boots a 64-bit kernel under 32-bit Raspberry Pi
    # OS too, and there pip finds no ai-edge-litert wheel for the armhf Python
    local arch
    arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
    # Refused, not warned: pip would install everything but a TFLite runtime, and the
    # service would then fail at every start, every 10 s, for good.
    case "$arch" in
        arm64|aarch64) ;;
        *)
            local why="the appliance needs 64-bit Raspberry Pi OS (arm64) for ai-edge-litert;"
            why="$why this userland is $arch: install Raspberry Pi OS (64-bit) and run this again"
            if [ "$DRY_RUN" -eq 1 ]; then
                warn "$why (a real run stops here)"
            else
                die "$why"
            fi
            ;;
    esac
}

boot_config() {
    if [ -f "$ROOT/boot/firmware/config.txt" ] || [ ! -f "$ROOT/boot/config.txt" ]; then
        printf '%s' "$ROOT/boot/firmware/config.txt"
    else
        printf '%s' "$ROOT/boot/config.txt"
    fi
}

install_apt_packages() {
    say "apt packages: ${APT_PACKAGES[*]}"
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y "${APT_PACKAGES[@]}"
}

# Coral's repository, its key kept in /etc/apt/keyrings and bound to it with signed-by=.
# The key is downloaded to a file, checked and dearmored; nothing is piped into a shell.
install_coral_repo() {
    local tmp
    say "Coral apt repository (key in $CORAL_KEYRING)"
    run install -d -m 0755 "$KEYRING_DIR"
    if [ -s "$CORAL_KEYRING" ]; then
        say "$CORAL_KEYRING exists"
    else
        tmp=/tmp/aoc-coral-key.XXXXXX
        if [ "$DRY_RUN" -eq 0 ]; then
            tmp="$(mktemp -d)"
            CLEANUP_DIRS+=("$tmp")  # removed on exit, also when curl or gpg fails
        fi
        # Downloaded to a file (never piped into a shell), its fingerprint compared with
        # the published one, dearmored, then installed.
        run curl -fsSL --proto '=https' --tlsv1.2 -o "$tmp/coral-key.asc" "$CORAL_KEY_URL"
        printf '+ check %s has a key with fingerprint %s\n' "$tmp/coral-key.asc" \
            "$CORAL_KEY_FINGERPRINT"
        if [ "$DRY_RUN" -eq 0 ]; then
            check_key_fingerprint "$tmp/coral-key.asc" "$CORAL_KEY_FINGERPRINT"
        fi
        run gpg --batch --yes --dearmor -o "$tmp/coral-edgetpu.gpg" "$tmp/coral-key.asc"
        run install -m 0644 "$tmp/coral-edgetpu.gpg" "$CORAL_KEYRING"
    fi
    local line="deb [signed-by=/etc/apt/keyrings/coral-edgetpu.gpg] $CORAL_REPO_URL coral-edgetpu-stable main"
    if [ -f "$CORAL_LIST" ] && [ "$(cat "$CORAL_LIST")" = "$line" ]; then
        say "$CORAL_LIST is up to date"
    else
        printf '+ write %s: %s\n' "$CORAL_LIST" "$line"
        if [ "$DRY_RUN" -eq 0 ]; then
            install -d -m 0755 "$(dirname "$CORAL_LIST")"
            printf '%s\n' "$line" >"$CORAL_LIST"
            chmod 0644 "$CORAL_LIST"
        fi
    fi
    run apt-get update
}

# key_fingerprints FILE GPGHOME: the fingerprint of every primary key in an OpenPGP key
# file, read with a throw-away gpg home (nothing is imported anywhere).
key_fingerprints() {
    gpg --homedir "$2" --batch --with-colons --import-options show-only --import "$1" \
        2>/dev/null | awk -F: '$1 == "pub" { want = 1; next }
            $1 == "fpr" && want { print $10; want = 0 }'
}

# check_key_fingerprint FILE FINGERPRINT: stop unless FILE holds a key with FINGERPRINT.
check_key_fingerprint() {
    local file="$1" expected="$2" found home
    home="$(mktemp -d)"
    CLEANUP_DIRS+=("$home")
    found="$(key_fingerprints "$file" "$home" | tr '\n' ' ')"
    case " $found " in
        *" $expected "*) say "key fingerprint $expected matches the published one" ;;
        *) die "the key downloaded from $CORAL_KEY_URL has fingerprint(s) '${found% }', not" \
            "the published $expected: not trusting it. Check your network (a proxy?) and" \
            "Coral's/Google's announcements; nothing was installed" ;;
    esac
}

# The heat warning, and the answer to libedgetpu1-max's licence question (asked through
# debconf; a non-interactive install would otherwise stop on it).
accept_max_frequency() {
    warn "libedgetpu1-max runs the Edge TPU at its maximum clock: the USB Accelerator" \
        "gets HOT (it can burn fingers and throttles itself). Give it airflow; use the" \
        "default (no --max-frequency) for an appliance left running for months."
    printf '+ debconf-set-selections: libedgetpu1-max libedgetpu/accepted-eula boolean true\n'
    if [ "$DRY_RUN" -eq 0 ]; then
        echo "libedgetpu1-max libedgetpu/accepted-eula boolean true" | debconf-set-selections
    fi
}

install_edgetpu_runtime() {
    local pkg=libedgetpu1-std kept
    if [ -n "$LIBEDGETPU_DEB" ]; then
        # A rebuild for a newer TensorFlow (such as feranick/libedgetpu's) carries the same
        # package name with a higher version ("16.0tf2.17.1-1.bookworm"), so apt replaces
        # Coral's and a later apt upgrade does not put Coral's back.
        say "libedgetpu from $LIBEDGETPU_DEB (sha256 $(sha256sum "$LIBEDGETPU_DEB" | cut -d' ' -f1))"
        case "$(basename "$LIBEDGETPU_DEB")" in
            libedgetpu1-max*) accept_max_frequency ;;
        esac
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y "$LIBEDGETPU_DEB"
        if [ "$WITH_PYCORAL" -eq 1 ]; then
            warn "--with-pycoral: Coral's python3-pycoral is built against Coral's own" \
                "libedgetpu; not installed beside $LIBEDGETPU_DEB (the appliance does not need it)"
        fi
        return
    fi
    # A libedgetpu given earlier with --libedgetpu-deb (not Coral's 16.0) stays: installing
    # Coral's over it would put back the build the runtime crashes with (and a -max
    # rebuild would be removed for Coral's -std, the two conflict)
    kept=$(dpkg-query -W --showformat='${db:Status-Abbrev}|${Package} ${Version}\n' \
        libedgetpu1-std libedgetpu1-max 2>/dev/null | sed -n 's/^ii *|//p' |
        grep -v ' 16\.0$' | head -n 1 || true)
    if [ -n "$kept" ]; then
        say "keeping the installed $kept (not Coral's 16.0; --libedgetpu-deb FILE replaces it)"
        return
    fi
    if [ "$MAX_FREQUENCY" -eq 1 ]; then
        pkg=libedgetpu1-max
        accept_max_frequency
    fi
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y "$pkg"
    if [ "$WITH_PYCORAL" -eq 1 ]; then
        # Coral's python3-pycoral, from Coral's repository only: the PyPI "pycoral" is an
        # unrelated package. Coral has not published it for every Python; it is optional.
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pycoral ||
            warn "python3-pycoral could not be installed (none for this Python?); the" \
                "appliance runs without it"
    fi
}

enable_i2c() {
    say "I2C"
    if command -v raspi-config >/dev/null 2>&1 || [ "$DRY_RUN" -eq 1 ]; then
        run raspi-config nonint do_i2c 0
    else
        warn "raspi-config not found: enable I2C yourself (dtparam=i2c_arm=on in config.txt)"
    fi
    if [ -n "$I2C_BAUDRATE" ]; then
        set_i2c_baudrate "$(boot_config)" "$I2C_BAUDRATE"
    fi
}

# An SPI panel: luma's spi interface needs spidev and, for its DC and RST pins, RPi.GPIO's
# API (luma.core 2.x no longer installs either). Bookworm's python3-rpi.gpio cannot run on
# a Pi 5 and needs /dev/gpiomem, which the unit does not allow; rpi-lgpio gives the same
# API through /dev/gpiochip*. The venv sees both through --system-site-packages.
enable_spi() {
    if [ "$WITH_SPI" -eq 0 ]; then
        return
    fi
    say "SPI (for an SPI panel)"
    if command -v raspi-config >/dev/null 2>&1 || [ "$DRY_RUN" -eq 1 ]; then
        run raspi-config nonint do_spi 0
    else
        warn "raspi-config not found: enable SPI yourself (dtparam=spi=on in config.txt)"
    fi
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-spidev python3-rpi-lgpio
    say "reboot once for SPI to take effect, and set display.interface = \"spi\" in $CONFIG_FILE"
}

# set_i2c_baudrate FILE HZ: exactly one dtparam=i2c_arm_baudrate= line with HZ, under [all].
set_i2c_baudrate() {
    local file="$1" hz="$2" want="dtparam=i2c_arm_baudrate=$2" tmp
    if [ ! -f "$file" ]; then
        warn "$file not found: add '$want' to your boot config.txt yourself"
        return
    fi
    tmp="$(mktemp)"
    # One pass: the first such line under [all] (or before any section) gets the new value;
    # every other one goes, wherever it is (one under [pi4] would win on a Pi 4 only). With
    # none kept the line is appended, under a new [all] when the file ends in a conditional
    # section ([pi4], [cm5], ...). awk ends every line it prints with a newline, so a last
    # line without one is not glued to ours.
    awk -v want="$want" '
        /^\[/ { section = $0 }
        /^dtparam=i2c_arm_baudrate=/ {
            if (!kept && (section == "" || section == "[all]")) { print want; kept = 1 }
            next
        }
        { print }
        END {
            if (!kept) {
                if (section != "" && section != "[all]") printf "\n[all]\n"
                print want
            }
        }' "$file" >"$tmp"
    if cmp -s -- "$file" "$tmp"; then
        rm -f -- "$tmp"
        say "$file already has $want"
        return
    fi
    if [ "$(grep -cx '\[all\]' "$tmp")" -gt "$(grep -cx '\[all\]' "$file")" ]; then
        printf '+ append [all] and %s to %s\n' "$want" "$file"
    elif grep -q '^dtparam=i2c_arm_baudrate=' "$file"; then
        printf '+ replace dtparam=i2c_arm_baudrate=... with %s in %s\n' "$want" "$file"
    else
        printf '+ append %s to %s\n' "$want" "$file"
    fi
    if [ "$DRY_RUN" -eq 0 ]; then
        # copied beside the file first: the rename into place stays on its file system
        cp -- "$tmp" "$file.aoc-new"
        replace_file "$file.aoc-new" "$file"
    fi
    rm -f -- "$tmp"
    say "the I2C bus speed ($hz Hz) takes effect after a reboot"
}

# replace_file NEW FILE: FILE becomes NEW atomically (rename in the same folder, synced),
# the previous FILE kept as FILE.aoc-backup. A power cut leaves the old or the new file.
replace_file() {
    local new="$1" file="$2"
    cp -p -- "$file" "$file.aoc-backup"
    sync -- "$new" 2>/dev/null || sync
    mv -f -- "$new" "$file"
    sync -- "$(dirname "$file")" 2>/dev/null || sync
    say "$file updated (previous version kept as $file.aoc-backup)"
}

create_user() {
    say "system user $SERVICE_USER"
    if getent group apex >/dev/null 2>&1; then
        say "group apex exists"
    else
        run groupadd --system apex
        # Recorded, so that --uninstall --purge removes the group only if we created it.
        run install -d -m 0755 "$INSTALL_RECORD_DIR"
        printf '+ record in %s: created group apex\n' "$INSTALL_RECORD_DIR/created-groups"
        if [ "$DRY_RUN" -eq 0 ]; then
            printf 'apex\n' >>"$INSTALL_RECORD_DIR/created-groups"
        fi
    fi
    if id "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER exists"
    else
        run useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "Anime or Cartoon? appliance" "$SERVICE_USER"
    fi
    local group groups=()
    for group in "${SERVICE_GROUPS[@]}"; do
        # In a dry run the apex group may not exist yet; it will.
        if getent group "$group" >/dev/null 2>&1 || { [ "$group" = apex ] && [ "$DRY_RUN" -eq 1 ]; }; then
            groups+=("$group")
        else
            warn "group $group does not exist; $SERVICE_USER is not added to it"
        fi
    done
    if [ "${#groups[@]}" -gt 0 ]; then
        local joined
        joined="$(IFS=,; printf '%s' "${groups[*]}")"
        run usermod -a -G "$joined" "$SERVICE_USER"
    fi
}

install_udev_rules() {
    say "udev rules for the Edge TPU (USB 1a6e:089a and 18d1:9302, PCIe apex)"
    install_file "$REPO_DIR/systemd/99-$APP-edgetpu.rules" "$UDEV_RULES" 0644
    run udevadm control --reload-rules
    # Re-apply the rules to the Coral devices only, not to every USB device on the bus.
    local id
    for id in "${CORAL_USB_IDS[@]}"; do
        run udevadm trigger --action=add --subsystem-match=usb \
            --attr-match="idVendor=${id%%:*}" --attr-match="idProduct=${id##*:}"
    done
    run udevadm trigger --action=add --subsystem-match=apex
}

install_app() {
    say "application venv in $VENV"
    run install -d -m 0755 "$OPT_DIR"
    if [ -x "$VENV/bin/python" ]; then
        say "$VENV exists; updating it"
    else
        # --system-site-packages: picamera2, libcamera and lgpio come from apt.
        run python3 -m venv --system-site-packages "$VENV"
    fi
    run "$VENV/bin/pip" install -q --upgrade pip
    # A copy (not an editable install): the service cannot read a checkout in /home
    # (ProtectHome=yes), and the appliance must not change when the checkout does.
    # The device extra bounds every dependency's version (pyproject.toml); to pin exact
    # versions run the installer with PIP_CONSTRAINT=/path/constraints.txt (README).
    # apt's picamera2 (and its simplejpeg) are built against apt's numpy, 1.x on Bookworm.
    # The venv sees it, but pip would put numpy 2 into the venv all the same (ml_dtypes,
    # which ai-edge-litert needs, wants it from 0.7), and picamera2 then fails to import
    # ("numpy.dtype size changed", raspberrypi/picamera2#1088): the appliance would quietly
    # run its demo instead of the camera. So apt's numpy is kept.
    local apt_numpy pin=()
    apt_numpy=$(apt_numpy_version)
    if [ -n "$apt_numpy" ]; then
        say "keeping apt's numpy $apt_numpy in the venv (apt's picamera2 is built against it)"
        if [ "$DRY_RUN" -eq 0 ]; then
            printf 'numpy==%s\n' "$apt_numpy" >"$VENV/apt-numpy-constraint.txt"
        fi
        pin=(--constraint "$VENV/apt-numpy-constraint.txt")
    fi
    run "$VENV/bin/pip" install --upgrade "${pin[@]}" "${REPO_DIR}[device]"
    # readable by the aoc user also when an earlier run made the venv under umask 077
    run chmod -R go+rX -- "$OPT_DIR"
    if python3 -c 'import picamera2' >/dev/null 2>&1; then
        run "$VENV/bin/python" -c 'import picamera2' ||
            die "apt's picamera2 imports with $(command -v python3) but not in $VENV:" \
                "run $VENV/bin/python -c 'import picamera2' to see why (a numpy the venv" \
                "installed over apt's is the usual cause)"
    fi
}

# apt's python3-numpy as a pip version ("1:1.24.2-1+deb12u1" -> "1.24.2"), or nothing.
# Asked of dpkg, not of python3: python3 also sees a numpy someone pip-installed into
# /usr/local, which apt's picamera2 was not built against.
apt_numpy_version() {
    local status version
    status=$(dpkg-query -W --showformat='${db:Status-Abbrev}|${Version}' python3-numpy \
        2>/dev/null || true)
    case "$status" in
        ii*) ;;
        *) return 0 ;;  # not installed (or removed, its config left)
    esac
    version="${status#*|}"
    version="${version#*:}"         # epoch
    version="${version%%-*}"        # Debian revision
    printf '%s' "${version%%[+~]*}"  # +ds, ~rc: not pip versions
}

# Kernel modules whose character devices the unit's DeviceAllow= names (char-i2c,
# char-video4linux, char-media, char-spi). systemd resolves those names from /proc/devices
# once, when the service starts: a module that udev loads a moment later stays locked out
# for the whole run. systemd-modules-load loads these before sysinit.target, ahead of the
# service.
install_modules_load() {
    say "kernel modules loaded at boot: $MODULES_LOAD"
    install_file "$REPO_DIR/systemd/modules-load-$APP.conf" "$MODULES_LOAD" 0644
    # char-apex too where the M.2 / PCIe Coral's driver is installed: udev loading it a
    # moment after the service started left /dev/apex_0 denied for the whole run
    if modinfo apex >/dev/null 2>&1; then
        install_file "$REPO_DIR/systemd/modules-load-$APP-apex.conf" "$MODULES_LOAD_APEX" 0644
    elif [ -e "$MODULES_LOAD_APEX" ]; then
        remove_path "$MODULES_LOAD_APEX"  # the driver went: a missing module fails the unit
    fi
    # now too, not only at the next boot: the service starts at the end of this install
    run systemctl restart systemd-modules-load.service ||
        warn "systemd-modules-load could not load every module now; they load at boot"
}

install_model() {
    local src="$REPO_DIR/models/default"
    # The unit's Documentation= points here.
    install_file "$REPO_DIR/device/docs/headless.md" "$SHARE_DIR/headless.md" 0644
    say "model bundle -> $MODEL_DEST"
    if [ ! -f "$src/manifest.json" ]; then
        warn "$src/manifest.json is missing: no default model bundle to install. Train one" \
            "(aoc-train) or set [model] bundle in $CONFIG_FILE."
        return
    fi
    # every file compared, not the manifest alone: a model file the SD card damaged is
    # repaired by running the installer again
    if [ -d "$MODEL_DEST" ] && diff -rq -- "$src" "$MODEL_DEST" >/dev/null 2>&1; then
        say "$MODEL_DEST is up to date"
        return
    fi
    # The manifest lists every file with its sha256 (report/*.png too): copy the whole tree
    # to a new folder, then swap it in, so no half-copied bundle is ever in place.
    run rm -rf -- "$MODEL_DEST.new"
    run install -d -m 0755 "$MODEL_DEST.new"
    run cp -R -- "$src/." "$MODEL_DEST.new/"
    run chmod -R u=rwX,go=rX -- "$MODEL_DEST.new"
    run rm -rf -- "$MODEL_DEST"
    run mv -- "$MODEL_DEST.new" "$MODEL_DEST"
}

# The config is installed only when absent: a user's config is never overwritten. The
# example is always refreshed next to it, for reference.
install_config() {
    local example="$REPO_DIR/device/aoc/config.example.toml"
    say "config $CONFIG_FILE"
    run install -d -m 0755 "$CONFIG_DIR"
    if [ -e "$CONFIG_FILE" ]; then
        say "keeping your existing $CONFIG_FILE (never overwritten); compare it with" \
            "$CONFIG_DIR/config.example.toml"
    else
        say "no config yet: installing the commented example as $CONFIG_FILE"
        install_file "$example" "$CONFIG_FILE" 0644
    fi
    install_file "$example" "$CONFIG_DIR/config.example.toml" 0644
}

install_polkit_rule() {
    say "polkit rule: $SERVICE_USER may power the Pi off (the shutdown button)"
    install_file "$REPO_DIR/systemd/50-$APP.rules" "$POLKIT_RULES" 0644
}

install_journald_dropin() {
    if [ "$VOLATILE_JOURNAL" -eq 1 ]; then
        say "journald: logs in RAM only"
        install_file "$REPO_DIR/systemd/journald-$APP.conf" "$JOURNALD_DROPIN" 0644
        run systemctl restart systemd-journald
    fi
}

# aoc doctor as the service user, with its config and state folder: what it prints is
# what the service will find (a WARN about libedgetpu against the runtime among them).
# Information only: a camera or panel plugged in later is no reason to stop here.
check_installation() {
    say "checking the installation (aoc doctor, as $SERVICE_USER):"
    # as the unit runs it: in a folder the user may write (lgpio makes its notification
    # pipes in the working directory or $LG_WD; root's would be a checkout in /home), with
    # that folder as HOME, and libcamera's INFO lines held back
    local workdir="/tmp"
    if [ "$DRY_RUN" -eq 0 ]; then
        workdir="$(mktemp -d)"
        CLEANUP_DIRS+=("$workdir")
        chown "$SERVICE_USER" "$workdir"
    fi
    (cd "$workdir" && run runuser -u "$SERVICE_USER" -- env HOME="$workdir" \
        LG_WD="$workdir" LIBCAMERA_LOG_LEVELS='*:ERROR' STATE_DIRECTORY="$STATE_DIR" \
        "$VENV/bin/aoc" doctor --config "$CONFIG_FILE") ||
        warn "aoc doctor found a FAIL above; the service starts anyway (it retries what" \
            "is missing and logs it: journalctl -u $APP)"
}

install_service() {
    say "systemd service $APP.service"
    install_file "$REPO_DIR/systemd/$APP.service" "$UNIT_FILE" 0644
    run systemctl daemon-reload
    run systemctl enable "$APP.service"
    if [ "$NO_START" -eq 1 ]; then
        say "not starting it now (--no-start); it starts at the next boot"
    else
        run systemctl restart "$APP.service"
    fi
}

install_pi() {
    require_root "$@"
    say "Raspberry Pi ($(board_model)): installing the appliance"
    check_os
    install_apt_packages
    install_coral_repo
    install_edgetpu_runtime
    enable_i2c
    enable_spi
    create_user
    install_udev_rules
    install_modules_load
    install_app
    install_model
    install_config
    install_polkit_rule
    install_journald_dropin
    check_installation
    install_service
    say "Done. Follow it with: journalctl -u $APP -f   (status: systemctl status $APP)"
    if [ -n "$I2C_BAUDRATE" ]; then
        say "Reboot once for the I2C settings to take effect."
    fi
}

uninstall_pi() {
    require_root "$@"
    say "removing the appliance"
    if [ -f "$UNIT_FILE" ] || [ "$DRY_RUN" -eq 1 ]; then
        run systemctl disable --now "$APP.service" || true
    fi
    remove_path "$UNIT_FILE"
    run systemctl daemon-reload
    remove_path "$UDEV_RULES"
    run udevadm control --reload-rules
    remove_path "$MODULES_LOAD"
    remove_path "$MODULES_LOAD_APEX"
    remove_path "$POLKIT_RULES"
    if [ -f "$JOURNALD_DROPIN" ]; then
        remove_path "$JOURNALD_DROPIN"
        run systemctl restart systemd-journald
    fi
    remove_path "$OPT_DIR"
    remove_path "$SHARE_DIR"
    if [ "$PURGE" -eq 1 ]; then
        remove_path "$CONFIG_DIR"
        remove_path "$UNIT_DROPIN_DIR"
        run systemctl daemon-reload
        # The app's state (the last good bundle): the unit's StateDirectory=.
        remove_path "$STATE_DIR"
        if id "$SERVICE_USER" >/dev/null 2>&1; then
            run userdel "$SERVICE_USER"
        fi
        if grep -qx apex "$INSTALL_RECORD_DIR/created-groups" 2>/dev/null; then
            if getent group apex >/dev/null 2>&1 || [ "$DRY_RUN" -eq 1 ]; then
                run groupdel apex
            fi
        else
            say "group apex was not created by this installer: kept"
        fi
        remove_path "$INSTALL_RECORD_DIR"
        remove_path "$CORAL_LIST"
        remove_path "$CORAL_KEYRING"
        say "apt packages (libedgetpu, picamera2, i2c-tools) are left installed; remove them" \
            "with apt if nothing else needs them"
    else
        say "kept: $CONFIG_DIR, $UNIT_DROPIN_DIR (if any), the $SERVICE_USER user, apt" \
            "packages and the Coral repository (--uninstall --purge removes the config," \
            "drop-ins, user and repository)"
    fi
    say "I2C settings in $(boot_config) are left as they are"
}

main() {
    # A stricter umask (077) would make the venv and bundle root's alone: the aoc user
    # could not start the app. Every file the installer writes has its own mode anyway.
    umask 022
    parse_args "$@"
    detect_target
    if [ -n "$ROOT" ] && [ "$DRY_RUN" -eq 0 ] && [ "$TARGET" = pi ]; then
        # apt, useradd, udevadm and systemctl would act on this machine while the files
        # went under the other root
        die "AOC_INSTALL_ROOT ($ROOT) is for --dry-run and the tests only; unset it to" \
            "install on this machine"
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        say "DRY RUN: printing the steps; nothing is changed"
    fi
    case "$TARGET:$UNINSTALL" in
        pi:0) install_pi "$@" ;;
        pi:1) uninstall_pi "$@" ;;
        dev:0) install_dev ;;
        dev:1) uninstall_dev ;;
    esac
}

# Sourcing the script (tests do) defines the functions without running anything.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
