# Stand-in for OpenWrt's $(TOPDIR)/rules.mk (openwrt/openwrt, rules.mk), for
# tests/package only: the install helpers a package Makefile calls, with the
# modes rules.mk gives them (INSTALL_DIR/BIN/DATA/CONF, CP, FIND), and the
# directories it names (BUILD_DIR, DL_DIR). The real one also exports
# SOURCE_DATE_EPOCH; the tests set it in the environment.
INCLUDE_DIR ?= $(TOPDIR)
BUILD_DIR ?= $(TOPDIR)/build_dir
DL_DIR ?= $(TOPDIR)/dl

INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
FIND:=find
