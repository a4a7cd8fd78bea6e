# Mnemo: the two commands are `make run` and `make test`; both install what is missing first.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)
# libgomp (used by FAISS) spins idle threads that starve OpenBLAS's and ours; it reads this at load time.
export OMP_WAIT_POLICY ?= PASSIVE

STORE ?= Index
BIN := .build/release/mnemo

.PHONY: all setup build release run test bench fuzz clean help

all: release

help:
	@echo "make run    install what is missing, build, index Examples/ into $(STORE)/ and query it"
	@echo "make test   install what is missing, then run every test"
	@echo "make bench  benchmarks beside the peer implementations (needs Tests/Scripts/reference-venv.sh)"
	@echo "make fuzz   every fuzz target for FUZZ_SECONDS (default 600) with libFuzzer and ASan (docs/RELIABILITY.md)"
	@echo "make setup  only the install step (Debian packages, models into \$$MNEMO_MODELS)"

setup:
	@bash .ci/setup.sh

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --product mnemo

run: setup release
	@bash Examples/run.sh $(BIN) $(STORE)

test: setup
	$(SWIFT) test

bench: setup release
	bash Tests/Scripts/bench-encoder.sh

FUZZ_SECONDS ?= 600
fuzz: setup
	bash Tests/Scripts/fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf .build
