# Stand-in for OpenWrt's $(TOPDIR)/rules.mk, for tests/package only: the
# install helpers a package Makefile calls, with the modes OpenWrt gives them.
INCLUDE_DIR ?= $(TOPDIR)
BUILD_DIR ?= $(TOPDIR)/build_dir

INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
