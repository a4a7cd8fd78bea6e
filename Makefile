# Mnemo: the two commands are `make run` and `make test`; both install what is missing first.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)
# libgomp (used by FAISS) spins idle threads that starve OpenBLAS's and ours; it reads this at load time.
export OMP_WAIT_POLICY ?= PASSIVE

STORE ?= Index
BIN := .build/release/mnemo

.PHONY: all setup build release run test check install install-files bench fuzz clean help

all: release

help:
	@echo "make run    install what is missing, build, index Examples/ into $(STORE)/ and query it"
	@echo "make test   install what is missing, then run every test"
	@echo "make bench  benchmarks beside the peer implementations (needs Tests/Scripts/reference-venv.sh)"
	@echo "make fuzz   every fuzz target for FUZZ_SECONDS (default 600) with libFuzzer and ASan (docs/RELIABILITY.md)"
	@echo "make check  the tests that need no model file (under 2 minutes once built)"
	@echo "make install  mnemo into \$$PREFIX/bin (default ~/.local) with bash, zsh and fish completions"
	@echo "make setup  only the install step (Debian packages, models into \$$MNEMO_MODELS)"

setup:
	@bash .ci/setup.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --product mnemo

run: setup release
	@bash Examples/run.sh $(BIN) $(STORE)

# Under a throwaway PostgreSQL primary and streaming standby on loopback (the shared store's tests),
# removed when the tests end.
test: setup
	bash Tests/Scripts/with-postgres.sh $(SWIFT) test

# The tests that need no model file: suites tagged `realModel` are left out (MNEMO_CHECK=1), and
# MNEMO_MODELS points nowhere, so a test that needs a model but lacks the tag fails here.
check:
	$(SWIFT) build --build-tests
	MNEMO_CHECK=1 MNEMO_MODELS=/nonexistent/mnemo-models $(SWIFT) test --skip-build

PREFIX ?= $(HOME)/.local
install: release
	@$(MAKE) --no-print-directory install-files BIN="$(BIN)" PREFIX="$(PREFIX)"

# Copies BIN and the completion scripts ArgumentParser writes for it; `make install` builds BIN first.
install-files:
	install -D -m 755 "$(BIN)" "$(PREFIX)/bin/mnemo"
	mkdir -p "$(PREFIX)/share/bash-completion/completions" "$(PREFIX)/share/zsh/site-functions" "$(PREFIX)/share/fish/vendor_completions.d"
	"$(BIN)" --generate-completion-script bash > "$(PREFIX)/share/bash-completion/completions/mnemo"
	"$(BIN)" --generate-completion-script zsh > "$(PREFIX)/share/zsh/site-functions/_mnemo"
	"$(BIN)" --generate-completion-script fish > "$(PREFIX)/share/fish/vendor_completions.d/mnemo.fish"
	@echo "installed $(PREFIX)/bin/mnemo and its completions; models are read from $${MNEMO_MODELS:-$$HOME/.local/share/mnemo/models}"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on your PATH";; esac

bench: setup release
	bash Tests/Scripts/bench-encoder.sh

FUZZ_SECONDS ?= 600
fuzz: setup
	bash Tests/Scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build
