# Stand-in for LuCI's luci.mk, for tests/package only (written for these
# tests, not taken from LuCI): from the LUCI_* variables of an application's
# Makefile it defines the package the way luci.mk does (section luci,
# category LuCI, TITLE/DEPENDS/PKGARCH from LUCI_TITLE/LUCI_DEPENDS/
# LUCI_PKGARCH, PKG_NAME after the folder unless set) and installs htdocs/
# under /www and root/ under /, copied with their modes. It then calls
# BuildPackage as luci.mk does (package.mk stand-in).
LUCI_SRC ?= $(CURDIR)
PKG_NAME ?= $(notdir $(LUCI_SRC))
HTDOCS := /www

include $(INCLUDE_DIR)/package.mk

define Package/$(PKG_NAME)
  SECTION:=luci
  CATEGORY:=LuCI
  SUBMENU:=3. Applications
  TITLE:=$(LUCI_TITLE)
  DEPENDS:=$(LUCI_DEPENDS)
  PKGARCH:=$(if $(LUCI_PKGARCH),$(LUCI_PKGARCH),all)
endef

define Package/$(PKG_NAME)/install
	$(INSTALL_DIR) $(1)$(HTDOCS)
	cp -pR $(LUCI_SRC)/htdocs/. $(1)$(HTDOCS)/
	$(INSTALL_DIR) $(1)/
	cp -pR $(LUCI_SRC)/root/. $(1)/
endef

$(eval $(call BuildPackage,$(PKG_NAME)))
