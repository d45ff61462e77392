# Stand-in for openwrt/packages' lang/python/python3-package.mk, for
# tests/package only: the part a Py3Package meets, with the real commands.
# - PYTHON3_VERSION 3.11 (python3-version.mk of the openwrt-24.10 branch);
#   HOST_PYTHON3_BIN, in the SDK the host Python the python3/host package
#   builds (python3-host.mk), is given by the tests: a Python 3.11.
# - Python3/CompileAll: `compileall -r 20 -b -d '/'` with PYTHONHASHSEED from
#   SOURCE_DATE_EPOCH; Python3/DeleteSourceFiles, DeleteNonSourceFiles,
#   DeleteEmptyDirs: the same find commands.
# - Py3Package: Package/<name>-src (title + " (sources)", no DEPENDS/USERID,
#   description + a paragraph) and the default Package/<name>/install and
#   Package/<name>-src/install, in the same order of steps.
# - Py3Package/ProcessFilespec: only the "+|path" operation (copy path from
#   the staging dir, as python-package-install.sh does with cp -fpR); the
#   real script also knows "-" and "=".
# - Py3Build (setup.py) is not modelled: such a Makefile needs PYTHON3_PKG_BUILD:=0.
PYTHON3_VERSION:=3.11
PYTHON3_PKG_DIR:=/usr/lib/python$(PYTHON3_VERSION)/site-packages
HOST_PYTHON3_BIN ?= python$(PYTHON3_VERSION)
PYTHON3_COMPILEALL_MAX_RECURSION_LEVEL:=20

ifneq ($(strip $(PYTHON3_PKG_BUILD)),0)
  $(error python3-package.mk stand-in: Py3Build (setup.py) is not modelled; set PYTHON3_PKG_BUILD:=0)
endif

# As in the real file, the third argument of Python3/CompileAll starts on a
# new line, so make hands the shell PYTHONHASHSEED=... as a command of its
# own and compileall runs without it (GNU make 4.3): a reproducible build
# needs PYTHONHASHSEED in make's environment, which is what the tests do.
define Python3/Run
	cd "$(if $(strip $(1)),$(strip $(1)),.)" && \
	PYTHONDONTWRITEBYTECODE=1 PYTHONOPTIMIZE="" \
	$(3) \
	$(HOST_PYTHON3_BIN) $(2)
endef

define Python3/CompileAll
	$(call Python3/Run,, \
		-m compileall -r "$(PYTHON3_COMPILEALL_MAX_RECURSION_LEVEL)" -b -d '/' $(1),
		$(if $(SOURCE_DATE_EPOCH),PYTHONHASHSEED="$(SOURCE_DATE_EPOCH)")
	)
endef

define Python3/DeleteSourceFiles
	$(FIND) $(1) -type f -name '*.py' -delete
endef

define Python3/DeleteNonSourceFiles
	$(FIND) $(1) -not -type d -not -name '*.py' -delete
endef

define Python3/DeleteEmptyDirs
	$(FIND) $(1) -mindepth 1 -empty -type d -not -path '$(1)/CONTROL' -not -path '$(1)/CONTROL/*' -delete
endef

# $(1) package, $(2) staging dir, $(3) destination
define Py3Package/ProcessFilespec
	$(foreach spec,$(strip $(Py3Package/$(1)/filespec)), \
		$(if $(filter +|%,$(spec)),,$(error python3-package.mk stand-in: only "+|path" filespecs, not $(spec))) \
		path='$(patsubst +|%,%,$(spec))'; \
		mkdir -p -m$$(stat -c %a "$(2)$$(dirname "$$path")") "$(3)$$(dirname "$$path")"; \
		cp -fpR "$(2)$$path" "$(3)$$(dirname "$$path")/";)
endef

define Py3Package
  define Package/$(1)-src
    $(call Package/$(1))
    DEPENDS:=
    CONFLICTS:=
    PROVIDES:=
    EXTRA_DEPENDS:=
    TITLE+= (sources)
    USERID:=
    MENU:=
  endef

  define Package/$(1)-src/description
    $$(call Package/$(1)/description)

    This package contains the Python source files for $(1).
  endef

  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(call Py3Package/$(1)/install,$$(1))
	$$(call Py3Package/ProcessFilespec,$(1),$(PKG_INSTALL_DIR),$$(1))
	$(FIND) $$(1) -name '*.exe' -delete
	$$(call Python3/CompileAll,$$(1))
	$$(call Python3/DeleteSourceFiles,$$(1))
	$$(call Python3/DeleteEmptyDirs,$$(1))
    endef

    define Package/$(1)-src/install
	$$(call Py3Package/$(1)/install,$$(1))
	$$(call Py3Package/ProcessFilespec,$(1),$(PKG_INSTALL_DIR),$$(1))
	$$(call Python3/DeleteNonSourceFiles,$$(1))
	$$(call Python3/DeleteEmptyDirs,$$(1))
    endef
  endif
endef
