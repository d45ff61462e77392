# Stand-in for openwrt/luci's luci.mk, for tests/package only, as thin as an
# application meets it:
# - LUCI_NAME ?= the folder's name; LUCI_TYPE its second word;
#   LUCI_BASENAME = LUCI_NAME without luci-<type>- ; PKG_NAME ?= LUCI_NAME;
#   PKG_RELEASE ?= 1; LUCI_LANGUAGES = the po/ folders but templates;
# - Package/<name>: section luci, category LuCI, submenu by type, TITLE,
#   DEPENDS, PKGARCH from the LUCI_* variables, MAINTAINER from PKG_MAINTAINER
#   (package-defaults.mk; newer luci.mk: LUCI_MAINTAINER);
# - Package/<name>/install copies htdocs/ to /www and root/ to / with cp -pR
#   (the real one copies them to PKG_BUILD_DIR first, in Build/Prepare);
# - the default Package/<name>/postinst (drop the menu and module caches,
#   HUP rpcd; nothing in an image);
# - LuciTranslation: one luci-i18n-<LUCI_BASENAME>-<lang> package per
#   language (only named here: po2lmo is not modelled), then BuildPackage for
#   every package (package.mk stand-in). Not modelled: luasrc, src/, minifying.
LUCI_NAME ?= $(notdir $(CURDIR))
LUCI_TYPE ?= $(word 2,$(subst -, ,$(LUCI_NAME)))
LUCI_BASENAME ?= $(patsubst luci-$(LUCI_TYPE)-%,%,$(LUCI_NAME))
LUCI_LANGUAGES := $(sort $(filter-out templates,$(notdir $(wildcard $(CURDIR)/po/*))))
LUCI_MENU.app = 3. Applications
HTDOCS := /www

PKG_NAME ?= $(LUCI_NAME)
PKG_RELEASE ?= 1

include $(INCLUDE_DIR)/package.mk

define Package/$(PKG_NAME)
  SECTION:=luci
  CATEGORY:=LuCI
  SUBMENU:=$(if $(LUCI_MENU.$(LUCI_TYPE)),$(LUCI_MENU.$(LUCI_TYPE)),$(LUCI_MENU.app))
  TITLE:=$(if $(LUCI_TITLE),$(LUCI_TITLE),LuCI $(LUCI_NAME) $(LUCI_TYPE))
  DEPENDS:=$(LUCI_DEPENDS)
  $(if $(LUCI_PKGARCH),PKGARCH:=$(LUCI_PKGARCH))
endef

define Package/$(PKG_NAME)/install
	$(INSTALL_DIR) $(1)$(HTDOCS)
	cp -pR $(CURDIR)/htdocs/* $(1)$(HTDOCS)/
	$(INSTALL_DIR) $(1)/
	cp -pR $(CURDIR)/root/* $(1)/
endef

ifndef Package/$(PKG_NAME)/postinst
define Package/$(PKG_NAME)/postinst
[ -n "$${IPKG_INSTROOT}" ] || {
	rm -f /tmp/luci-indexcache
	rm -rf /tmp/luci-modulecache/
	killall -HUP rpcd 2>/dev/null
	exit 0
}
endef
endif

LUCI_BUILD_PACKAGES := $(PKG_NAME)

define LuciTranslation
  define Package/luci-i18n-$(LUCI_BASENAME)-$(1)
    SECTION:=luci
    CATEGORY:=LuCI
    TITLE:=$(PKG_NAME) - $(1) translation
    DEPENDS:=$(PKG_NAME)
    PKGARCH:=all
  endef
  LUCI_BUILD_PACKAGES += luci-i18n-$(LUCI_BASENAME)-$(1)
endef

$(foreach lang,$(LUCI_LANGUAGES),$(eval $(call LuciTranslation,$(lang))))
$(foreach pkg,$(LUCI_BUILD_PACKAGES),$(eval $(call BuildPackage,$(pkg))))
