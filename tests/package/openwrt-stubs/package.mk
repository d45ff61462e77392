# Stand-in for OpenWrt's $(INCLUDE_DIR)/package.mk, for tests/package only.
#
# BuildPackage reads the package's definition (as OpenWrt does, by evaluating
# Package/<name>) and makes three targets:
#   install-<name>  runs Package/<name>/install with $(1) = $(STUB_ROOT)/<name>
#                   (`make -n install-<name>` prints the install commands)
#   meta-<name>     prints the definition's fields, one "FIELD=value" a line
#   print-VAR       prints a variable of the Makefile
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
STUB_ROOT ?= $(CURDIR)/stub-root
STUB_FIELDS := SECTION CATEGORY SUBMENU TITLE PKGARCH DEPENDS USERID

.PHONY: stub-default
stub-default:
	@echo "openwrt-stubs: name a target (install-<pkg>, meta-<pkg>, print-VAR)"

print-%:
	@echo '$($*)'

define BuildPackage
$(foreach v,$(STUB_FIELDS),$(eval $(v):=))
$(eval $(Package/$(1)))
$(foreach v,$(STUB_FIELDS),$(eval STUB_$(v)_$(1):=$($(v))))
STUB_CONFFILES_$(1):=$(strip $(Package/$(1)/conffiles))
.PHONY: install-$(1) meta-$(1)
install-$(1):
	$$(call Package/$(1)/install,$$(STUB_ROOT)/$(1))
meta-$(1):
	@$$(foreach v,$$(STUB_FIELDS) CONFFILES,echo '$$(v)=$$(STUB_$$(v)_$(1))';)
endef
