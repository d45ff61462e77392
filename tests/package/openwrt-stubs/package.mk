# Stand-in for OpenWrt's $(INCLUDE_DIR)/package.mk, for tests/package only,
# as thin as the part of it a package Makefile meets:
# - PKG_BUILD_DIR and PKG_INSTALL_DIR as package.mk names them
#   ($(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION), .../ipkg-install);
# - download.mk's check that $(DL_DIR)/$(PKG_SOURCE) has the sha256 PKG_HASH
#   names (the real one says "Hash of the local file ... does not match");
# - unpack.mk's PKG_UNPACK for a .tar.gz (gzip -dc | tar -C $(PKG_BUILD_DIR)/..)
#   as Build/Prepare/Default, the default Build/Prepare;
# - package-defaults.mk's Package/Default VERSION, $(PKG_VERSION)-r$(PKG_RELEASE);
# - BuildPackage evaluating Package/<name> (as package.mk does), then, instead
#   of packing (package-pack.mk), these targets:
#     prepare, compile       Build/Prepare (hash checked first), Build/Compile
#     install-<name>         Package/<name>/install with $(1) = $(STUB_ROOT)/<name>
#     meta-<name>            the definition's fields, one "FIELD=value" a line
#     postinst-<name>        Package/<name>/postinst written to $(STUB_OUT)
#     print-VAR              a variable of the Makefile
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)$(if $(PKG_VERSION),-$(PKG_VERSION))
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install
STUB_ROOT ?= $(CURDIR)/stub-root
STUB_FIELDS := SECTION CATEGORY SUBMENU TITLE PKGARCH DEPENDS USERID VERSION URL

.PHONY: stub-default prepare compile
stub-default:
	@echo "openwrt-stubs: name a target (prepare, compile, install-<pkg>, meta-<pkg>, print-VAR)"

print-%:
	@echo '$($*)'

define Build/Prepare/Default
	mkdir -p $(PKG_BUILD_DIR)
	gzip -dc $(DL_DIR)/$(PKG_SOURCE) | tar -C $(PKG_BUILD_DIR)/.. -xf -
endef
Build/Prepare = $(Build/Prepare/Default)
Build/Compile =

prepare:
	@got=$$(sha256sum < $(DL_DIR)/$(PKG_SOURCE) | cut -d' ' -f1); \
	if [ "$$got" != "$(PKG_HASH)" ]; then \
		echo "Hash of the local file $(PKG_SOURCE) does not match (file: $$got, requested: $(PKG_HASH))" >&2; \
		exit 1; \
	fi
	$(Build/Prepare)

compile:
	$(Build/Compile)

define BuildPackage
$(foreach v,$(STUB_FIELDS),$(eval $(v):=))
$(eval VERSION:=$(PKG_VERSION)-r$(PKG_RELEASE))
$(eval $(Package/$(1)))
$(foreach v,$(STUB_FIELDS),$(eval STUB_$(v)_$(1):=$(strip $($(v)))))
STUB_CONFFILES_$(1):=$(strip $(Package/$(1)/conffiles))
.PHONY: install-$(1) meta-$(1) postinst-$(1)
install-$(1):
	$$(call Package/$(1)/install,$$(STUB_ROOT)/$(1))
meta-$(1):
	@$$(foreach v,$$(STUB_FIELDS) CONFFILES,echo '$$(v)=$$(STUB_$$(v)_$(1))';)
postinst-$(1):
	$$(file >$$(STUB_OUT),$$(Package/$(1)/postinst))
endef
