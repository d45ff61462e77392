/*
 * A thin stand-in for the part of LuCI's client API that the dprive views use.
 * Written for the tests from openwrt/luci's own sources (read at mj22226/luci
 * 46cd823, which tracks openwrt/luci master: modules/luci-base/htdocs/
 * luci-static/resources/{luci,rpc,uci,form,ui,validation}.js) and the shared
 * notes/luci.md (section numbers below); no LuCI code is copied. The uci and
 * form blocks name, per behaviour, the real function they mirror; where the
 * real one is harsh (uci.js dropping a reorder, form.js deleting values equal
 * to their default), this one is just as harsh, so the views are tested
 * against what LuCI does, not against what would be convenient.
 * What it does not do (on purpose): tabs, depends(), touch and header sorting,
 * rollback timers, login and session expiry, the readonly form of a read-only
 * ACL (CBIMap.load's session access check), translations (_() returns its
 * argument, as LuCI does without a catalog), CSS.
 */
(function(window, document) {
'use strict';

/* ---- baseclass (§1.1) ---------------------------------------------------- */
function Class() {}
Class.extend = function(props) {
	var Super = this;
	var Sub = function() {
		if (typeof this.__init__ === 'function') this.__init__.apply(this, arguments);
	};
	Sub.prototype = Object.create(Super.prototype);
	Object.keys(props || {}).forEach(function(k) { Sub.prototype[k] = props[k]; });
	Sub.prototype.constructor = Sub;
	Sub.prototype.__base__ = Super.prototype;
	Sub.extend = Class.extend;
	Sub.singleton = Class.singleton;
	Sub.instantiate = Class.instantiate;
	Sub.isSubclass = Class.isSubclass;
	return Sub;
};
Class.singleton = function(props) { var C = this.extend(props); return new C(); };
Class.instantiate = function(args) { var C = this; return new (Function.prototype.bind.apply(C, [null].concat(args)))(); };
Class.isSubclass = function(C) { return C != null && C.prototype instanceof this; };
Class.prototype.super = function(name, args) {
	/* call the first implementation of `name` above the one that is running */
	var proto = Object.getPrototypeOf(this), own = this[name];
	while (proto && proto[name] === own) proto = proto.__base__;
	var fn = proto ? proto[name] : null;
	return typeof fn === 'function' ? fn.apply(this, args || []) : undefined;
};

/* ---- String.prototype.format (§1.2: %s %d %f %.Nf %h %q %t %%) ----------- */
var htmlEscape = function(s) {
	return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
		.replace(/"/g, '&#34;').replace(/'/g, '&#39;');
};
String.prototype.format = function() {
	var args = arguments, i = 0;
	return this.replace(/%(\.(\d+))?([sdfhqt%])/g, function(m, p, prec, t) {
		if (t === '%') return '%';
		var v = args[i++];
		switch (t) {
		case 's': return String(v == null ? '' : v);
		case 'd': return String(parseInt(v, 10) || 0);
		case 'f': return prec != null ? (+v || 0).toFixed(+prec) : String(+v || 0);
		case 'h': return htmlEscape(v == null ? '' : v);
		case 'q': return String(v == null ? '' : v).replace(/"/g, '\\"');
		case 't':
			var s = Math.floor(+v || 0), out = '';
			[[86400, 'd'], [3600, 'h'], [60, 'm']].forEach(function(u) {
				if (s >= u[0]) { out += Math.floor(s / u[0]) + u[1] + ' '; s %= u[0]; }
			});
			return out + s + 's';
		}
	});
};

/* ---- dom (§1.2) ---------------------------------------------------------- */
var dom = {
	elem: function(e) { return e != null && typeof e === 'object' && 'nodeType' in e; },
	append: function(node, children) {
		if (Array.isArray(children)) {
			children.forEach(function(c) {
				if (dom.elem(c)) node.appendChild(c);
				else if (c != null) node.appendChild(document.createTextNode(String(c)));
			});
		}
		else if (typeof children === 'function') { dom.append(node, children(node)); }
		else if (dom.elem(children)) { node.appendChild(children); }
		else if (children != null) { node.innerHTML = String(children); }   /* the trap, §0.4 */
		return node;
	},
	content: function(node, children) {
		while (node.firstChild) node.removeChild(node.firstChild);
		return dom.append(node, children);
	},
	attr: function(node, key, val) {
		if (val == null) return;
		if (typeof val === 'function') node.addEventListener(key, val);
		else if (typeof val === 'object') node.setAttribute(key, JSON.stringify(val));
		else node.setAttribute(key, val);
	},
	create: function(html, attr, data) {
		var node;
		if (Array.isArray(html)) {
			node = document.createDocumentFragment();
			html.forEach(function(h) { node.appendChild(dom.create(h)); });
		}
		else if (dom.elem(html)) node = html;
		else if (String(html).charAt(0) === '<') {
			var t = document.createElement('template'); t.innerHTML = html; node = t.content.firstChild;
		}
		else node = document.createElement(html);
		if (attr != null && (typeof attr !== 'object' || Array.isArray(attr) || dom.elem(attr))) {
			data = attr; attr = null;
		}
		if (attr) Object.keys(attr).forEach(function(k) { dom.attr(node, k, attr[k]); });
		return dom.append(node, data);
	},
	bindClassInstance: function(node, inst) { node.__luci_instance = inst; },
	findClassInstance: function(node) {
		for (; node; node = node.parentNode) if (node.__luci_instance) return node.__luci_instance;
		return null;
	},
	callClassMethod: function(node, method) {
		var inst = dom.findClassInstance(node);
		if (!inst || typeof inst[method] !== 'function') return null;
		return inst[method].apply(inst, Array.prototype.slice.call(arguments, 2));
	},
	isEmpty: function(node) { return !node || !node.firstElementChild; }
};
var E = function() { return dom.create.apply(dom, arguments); };
var _ = function(s) { return s; };

/* ---- poll (§1.4): 1 s ticks, no re-entry, interval in seconds ------------ */
var poll = Class.singleton({
	__init__: function() { this.queue = []; this.tick = 0; this.timer = null; },
	add: function(fn, interval) {
		if (typeof fn !== 'function') throw new TypeError('Invalid argument to LuCI.poll.add()');
		if (this.queue.some(function(e) { return e.fn === fn; })) return false;
		this.queue.push({ fn: fn, i: (interval > 0 ? interval : L.env.pollinterval) || 5, r: true });
		if (this.timer == null && !this.stopped) this.start();
		return true;
	},
	remove: function(fn) {
		var n = this.queue.length;
		this.queue = this.queue.filter(function(e) { return e.fn !== fn; });
		if (!this.queue.length) this.stop(true);
		return this.queue.length !== n;
	},
	start: function() {
		if (this.timer != null) return false;
		this.stopped = false;
		this.timer = window.setInterval(this.step.bind(this), 1000);
		this.step();
		return true;
	},
	stop: function(byRemove) {
		if (this.timer == null) return false;
		window.clearInterval(this.timer); this.timer = null;
		if (!byRemove) this.stopped = true;
		return true;
	},
	active: function() { return this.timer != null; },
	step: function() {
		var tick = this.tick++;
		this.queue.forEach(function(e) {
			if (tick % e.i !== 0 || !e.r) return;
			e.r = false;
			Promise.resolve(e.fn()).finally(function() { e.r = true; });
		});
	}
});

/* ---- rpc (§1.3): JSON-RPC "call" frames, same-frame batching, expect ----- */
var rpcQueue = [], rpcId = 1, rpcTimer = null;
function rpcFlush() {
	var batch = rpcQueue; rpcQueue = []; rpcTimer = null;
	var body = batch.length === 1 ? batch[0].msg : batch.map(function(b) { return b.msg; });
	fetch(L.env.ubuspath + '?' + Date.now(), {
		method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
	}).then(function(res) { return res.json(); }).then(function(reply) {
		var replies = Array.isArray(reply) ? reply : [reply];
		batch.forEach(function(b, i) { b.resolve(replies[i]); });
	}).catch(function(err) { batch.forEach(function(b) { b.reject(err); }); });
}
function rpcCall(msg) {
	return new Promise(function(resolve, reject) {
		rpcQueue.push({ msg: msg, resolve: resolve, reject: reject });
		if (rpcTimer == null) rpcTimer = window.setTimeout(rpcFlush, 0);   /* same-tick calls share one POST */
	});
}
var rpc = Class.singleton({
	declare: function(opts) {
		return function() {
			var args = {}, params = opts.params || [], extra = Array.prototype.slice.call(arguments, params.length);
			var arguments_ = arguments;
			params.forEach(function(p, i) { if (arguments_[i] !== undefined) args[p] = arguments_[i]; });
			var msg = { jsonrpc: '2.0', id: rpcId++, method: 'call',
				params: [ L.env.sessionid, opts.object, opts.method, args ] };
			return rpcCall(msg).then(function(reply) {
				if (L.isObject(reply.error) && reply.error.code && reply.error.message)
					L.raise('RPCError', 'RPC call to %s/%s failed with error %d: %s',
						opts.object, opts.method, reply.error.code, reply.error.message);
				var res = reply.result, ret;
				if (!Array.isArray(res)) L.raise('RPCError', 'Invalid reply');
				if (res[0] !== 0 && opts.reject)
					L.raise('RPCError', 'RPC call to %s/%s failed with ubus code %d', opts.object, opts.method, res[0]);
				ret = res.length > 1 ? res[1] : res[0];
				if (opts.expect) {
					var key = Object.keys(opts.expect)[0], type = Object.prototype.toString;
					if (ret != null && key !== '') ret = ret[key];
					if (ret == null || type.call(ret) !== type.call(opts.expect[key])) ret = opts.expect[key];
				}
				if (typeof opts.filter === 'function') ret = opts.filter.apply(null, [ret, args].concat(extra));
				return ret;
			});
		};
	}
});

/* ---- uci client cache ------------------------------------------------------
 * Mirrors openwrt/luci modules/luci-base/htdocs/luci-static/resources/uci.js
 * (read at mj22226/luci 46cd823), function by function:
 *  - set(): on a loaded section a null/'' value becomes a per-option delete
 *    (state.deletes[conf][sid][opt] = true) and only when the option exists
 *    in the loaded values; it also drops a pending change of that option.
 *    On a just-created section null deletes the key, '' is stored as is.
 *  - get(): a pending option delete hides the value; a pending change wins.
 *  - remove(): a created section is forgotten, a loaded one is marked
 *    state.deletes[conf][sid] = true (its pending changes dropped).
 *  - move(): renumbers '.index' of every section, sets state.reorder[conf].
 *  - save(): ONE batch of delete, add, set calls (in that order), then
 *    reorderSections(), then unload + load. reorderSections() SKIPS every
 *    config that has any pending delete ("skip deletes within re-orders":
 *    the deleted sections are still in state.values and rpcd's `uci order`
 *    saves nothing when one name is not found) and then clears
 *    state.reorder for all configs: the reorder is lost, not postponed.
 *  - save() names created sections from responses[i], counting from the
 *    first task: with deletes pending the names are those of the delete
 *    replies (the bug is real; only reorderSections reads them).
 *  - unload() keeps state.reorder.
 */
var uciGet = rpc.declare({ object: 'uci', method: 'get', params: ['config'], expect: { values: {} } });
var uciAdd = rpc.declare({ object: 'uci', method: 'add', params: ['config', 'type', 'name', 'values'], expect: { section: '' } });
var uciSet = rpc.declare({ object: 'uci', method: 'set', params: ['config', 'section', 'values'] });
var uciDelete = rpc.declare({ object: 'uci', method: 'delete', params: ['config', 'section', 'options'] });
var uciOrder = rpc.declare({ object: 'uci', method: 'order', params: ['config', 'sections'] });
var uciChanges = rpc.declare({ object: 'uci', method: 'changes', expect: { changes: {} } });
var hasKeys = function(o) { return o != null && Object.keys(o).length > 0; };
var uci = Class.singleton({
	__init__: function() { this.state = { newidx: 0, values: {}, creates: {}, changes: {}, deletes: {}, reorder: {} }; },
	createSID: function(conf) {
		var sid;
		do { sid = 'new' + ('00000' + Math.floor(Math.random() * 0xFFFFFF).toString(16)).slice(-6); }
		while ((this.state.creates[conf] || {})[sid] || (this.state.values[conf] || {})[sid]);
		return sid;
	},
	load: function(configs) {
		var self = this, list = L.toArray(configs).filter(function(c) { return !self.state.values[c]; });
		return Promise.all(list.map(function(c) { return uciGet(c); })).then(function(res) {
			res.forEach(function(v, i) { self.state.values[list[i]] = v; });
			return list;
		});
	},
	unload: function(configs) {
		var st = this.state;
		L.toArray(configs).forEach(function(c) {
			delete st.values[c]; delete st.creates[c]; delete st.changes[c]; delete st.deletes[c];
		});
	},
	sections: function(conf, type, cb) {
		var v = this.state.values[conf], n = this.state.creates[conf], c = this.state.changes[conf],
			d = this.state.deletes[conf], out = [];
		if (!v) return out;
		Object.keys(v).forEach(function(s) {
			if ((!d || d[s] !== true) && (!type || v[s]['.type'] === type)) out.push(Object.assign({}, v[s], c ? c[s] : null));
		});
		Object.keys(n || {}).forEach(function(s) { if (!type || n[s]['.type'] === type) out.push(Object.assign({}, n[s])); });
		out.sort(function(a, b) { return a['.index'] - b['.index']; });
		out.forEach(function(s, i) { s['.index'] = i; });
		if (typeof cb === 'function') out.forEach(function(s) { cb.call(this, s, s['.name']); }, this);
		return out;
	},
	get: function(conf, sid, opt) {
		var st = this.state, n = st.creates[conf], v = st.values[conf], c = st.changes[conf], d = st.deletes[conf];
		if (sid == null) return null;
		if (n && n[sid]) return opt == null ? n[sid] : n[sid][opt];
		if (opt != null) {
			if (d && d[sid] && (d[sid] === true || d[sid][opt])) return null;
			if (c && c[sid] && c[sid][opt] != null) return c[sid][opt];
			return (v && v[sid]) ? v[sid][opt] : null;
		}
		if (!v || (d && d[sid] === true)) return null;
		var s = v[sid] || null;
		if (s && c && c[sid]) Object.keys(c[sid]).forEach(function(o) { if (c[sid][o] != null) s[o] = c[sid][o]; });
		if (s && d && d[sid]) Object.keys(d[sid]).forEach(function(o) { delete s[o]; });
		return s;
	},
	get_first: function(conf, type, opt) {
		var s = this.sections(conf, type)[0];
		return this.get(conf, s ? s['.name'] : null, opt);
	},
	set: function(conf, sid, opt, val) {
		var st = this.state, n = st.creates, v = st.values, c = st.changes, d = st.deletes;
		if (sid == null || opt == null || opt.charAt(0) === '.') return;
		if (n[conf] && n[conf][sid]) {
			if (val != null) n[conf][sid][opt] = val; else delete n[conf][sid][opt];
		}
		else if (val != null && val !== '') {
			if ((d[conf] && d[conf][sid] === true) || !(v[conf] && v[conf][sid])) return;
			c[conf] = c[conf] || {}; c[conf][sid] = c[conf][sid] || {};
			if (d[conf] && d[conf][sid]) { delete d[conf][sid][opt]; if (!hasKeys(d[conf][sid])) delete d[conf][sid]; }
			c[conf][sid][opt] = val;
		}
		else {
			if (c[conf] && c[conf][sid]) { delete c[conf][sid][opt]; if (!hasKeys(c[conf][sid])) delete c[conf][sid]; }
			if (v[conf] && v[conf][sid] && Object.prototype.hasOwnProperty.call(v[conf][sid], opt)) {
				d[conf] = d[conf] || {}; d[conf][sid] = d[conf][sid] || {};
				if (d[conf][sid] !== true) d[conf][sid][opt] = true;
			}
		}
	},
	unset: function(conf, sid, opt) { return this.set(conf, sid, opt, null); },
	add: function(conf, type, name) {
		var n = this.state.creates, sid = name || this.createSID(conf);
		n[conf] = n[conf] || {};
		n[conf][sid] = { '.type': type, '.name': sid, '.create': name, '.anonymous': !name, '.index': 1000 + this.state.newidx++ };
		return sid;
	},
	remove: function(conf, sid) {
		var st = this.state;
		if (st.creates[conf] && st.creates[conf][sid]) { delete st.creates[conf][sid]; return; }
		if (st.values[conf] && st.values[conf][sid]) {
			if (st.changes[conf]) delete st.changes[conf][sid];
			st.deletes[conf] = st.deletes[conf] || {};
			st.deletes[conf][sid] = true;
		}
	},
	move: function(conf, sid1, sid2, after) {
		var list = this.sections(conf), idx = list.findIndex(function(s) { return s['.name'] === sid1; });
		if (idx < 0) return false;
		var moving = list.splice(idx, 1)[0];
		if (sid2 == null) list.push(moving);
		else {
			var to = list.findIndex(function(s) { return s['.name'] === sid2; });
			if (to < 0) return false;
			list.splice(to + (after ? 1 : 0), 0, moving);
		}
		list.forEach(function(s, i) { this.get(conf, s['.name'])['.index'] = i; }, this);
		this.state.reorder[conf] = true;
		return true;
	},
	reorderSections: function() {
		var st = this.state, tasks = [];
		Object.keys(st.reorder).forEach(function(c) {
			if (st.deletes[c]) return;                 /* uci.js: "skip deletes within re-orders" */
			var all = Object.keys(st.creates[c] || {}).map(function(s) { return st.creates[c][s]; })
				.concat(Object.keys(st.values[c] || {}).map(function(s) { return st.values[c][s]; }));
			if (!all.length) return;
			all.sort(function(a, b) { return a['.index'] - b['.index']; });
			tasks.push(uciOrder(c, all.map(function(s) { return s['.name']; })));
		});
		st.reorder = {};
		return Promise.all(tasks);
	},
	save: function() {
		var self = this, st = this.state, tasks = [], created = [], pkgs = {};
		Object.keys(st.deletes).forEach(function(conf) {
			Object.keys(st.deletes[conf]).forEach(function(sid) {
				var o = st.deletes[conf][sid];
				tasks.push(uciDelete(conf, sid, o === true ? null : Object.keys(o)));
			});
			pkgs[conf] = true;
		});
		Object.keys(st.creates).forEach(function(conf) {
			Object.keys(st.creates[conf]).forEach(function(sid) {
				var s = st.creates[conf][sid], values = {};
				Object.keys(s).forEach(function(k) { if (k.charAt(0) !== '.') values[k] = s[k]; });
				created.push(s);
				tasks.push(uciAdd(conf, s['.type'], s['.create'], values));
			});
			pkgs[conf] = true;
		});
		Object.keys(st.changes).forEach(function(conf) {
			Object.keys(st.changes[conf]).forEach(function(sid) { tasks.push(uciSet(conf, sid, st.changes[conf][sid])); });
			pkgs[conf] = true;
		});
		Object.keys(st.reorder).forEach(function(conf) { pkgs[conf] = true; });
		return Promise.all(tasks).then(function(responses) {
			created.forEach(function(s, i) { s['.name'] = responses[i]; });   /* sic: uci.js counts from the first task */
			return self.reorderSections();
		}).then(function() {
			var list = Object.keys(pkgs);
			self.unload(list);
			return self.load(list);
		});
	},
	changes: function() { return uciChanges(); }
});

/* ---- validation (§2.1): the datatypes dprive uses ------------------------ */
var isInt = function(v) { return /^-?\d+$/.test(v); };
var isDec = function(v) { return /^-?\d+(?:\.\d+)?$/.test(v); };
var ip4 = function(v) {
	var m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(v);
	return !!m && m.slice(1, 5).every(function(x) { return +x <= 255; }) && (m[5] == null || +m[5] <= 32);
};
var ip6 = function(v) {
	var parts = String(v).split('/'), a = parts[0];
	if (parts.length > 2 || (parts[1] != null && !(isInt(parts[1]) && +parts[1] <= 128))) return false;
	if (!/^[0-9a-fA-F:.]+$/.test(a) || a.indexOf(':') < 0) return false;
	var dbl = a.split('::');
	if (dbl.length > 2) return false;
	var groups = function(s) { return s === '' ? [] : s.split(':'); };
	var g = groups(dbl[0]).concat(dbl.length === 2 ? groups(dbl[1]) : []), n = 0, ok = true;
	g.forEach(function(x, i) {
		if (i === g.length - 1 && x.indexOf('.') >= 0) { ok = ok && ip4(x); n += 2; }
		else { ok = ok && /^[0-9a-fA-F]{1,4}$/.test(x); n += 1; }
	});
	return ok && (dbl.length === 2 ? n < 8 : n === 8);
};
var hostname = function(v) {
	return v.length <= 253 && (/^[a-zA-Z0-9_]+$/.test(v) || /^[a-zA-Z0-9_][a-zA-Z0-9_\-.]*[a-zA-Z0-9]\.?$/.test(v)) && !/^[0-9.]+$/.test(v);
};
var types = {
	integer: function(v) { return isInt(v); },
	uinteger: function(v) { return isInt(v) && +v >= 0; },
	port: function(v) { return isInt(v) && +v >= 0 && +v <= 65535; },
	range: function(v, a, b) { return isDec(v) && +v >= a && +v <= b; },
	min: function(v, a) { return isDec(v) && +v >= a; },
	max: function(v, b) { return isDec(v) && +v <= b; },
	ip4addr: function(v) { return ip4(v); },
	ip6addr: function(v) { return ip6(v); },
	ipaddr: function(v) { return ip4(v) || ip6(v); },
	hostname: function(v) { return hostname(v); },
	host: function(v) { return hostname(v) || ip4(v) || ip6(v); },
	rangelength: function(v, a, b) { return v.length >= a && v.length <= b; },
	minlength: function(v, a) { return v.length >= a; },
	maxlength: function(v, b) { return v.length <= b; },
	uciname: function(v) { return /^[a-zA-Z0-9_]+$/.test(v); },
	string: function() { return true; },
	and: function(v) { var a = Array.prototype.slice.call(arguments, 1); return a.every(function(f) { return f(v); }); },
	or: function(v) { var a = Array.prototype.slice.call(arguments, 1); return a.some(function(f) { return f(v); }); }
};
function compile(code) {
	var pos = 0, s = String(code);
	function expr() {
		var m = /^\s*("([^"]*)"|'([^']*)'|-?\d+(?:\.\d+)?|[a-zA-Z_][a-zA-Z0-9_]*)/.exec(s.slice(pos));
		if (!m) throw new SyntaxError('Syntax error in datatype "' + s + '"');
		pos += m[0].length;
		if (m[2] != null || m[3] != null) { var lit = m[2] != null ? m[2] : m[3]; return function(v) { return v === lit; }; }
		if (/^-?\d/.test(m[1])) return +m[1];
		var name = m[1], args = [];
		if (!types[name]) throw new SyntaxError('Unhandled token "' + name + '"');
		if (s.charAt(pos) === '(') {
			pos++;
			while (s.charAt(pos) !== ')') {
				args.push(expr());
				if (s.charAt(pos) === ',') pos++;
				else if (s.charAt(pos) !== ')') throw new SyntaxError('Syntax error in datatype "' + s + '"');
			}
			pos++;
		}
		return function(v) { return types[name].apply(null, [v].concat(args)); };
	}
	var fn = expr();
	if (pos !== s.length) throw new SyntaxError('Trailing garbage in datatype "' + s + '"');
	return fn;
}
var validation = { compile: compile, types: types };

/* ---- ui (§1.6) ------------------------------------------------------------ */
var ui = Class.singleton({
	addNotification: function(title, children) {
		var classes = Array.prototype.slice.call(arguments, 2);
		var msg = E('div', { 'class': 'alert-message fade-in ' + classes.join(' ') }, [
			E('div', { 'style': 'float:right' }, [ E('button', { 'class': 'btn', 'click': function() { msg.remove(); } }, [ _('Dismiss') ]) ]),
			title ? E('h4', {}, [ title ]) : '',
			E('div', {}, [].concat(children))
		]);
		var mc = document.querySelector('#maincontent') || document.body;
		mc.insertBefore(msg, mc.firstChild);
		return msg;
	},
	/* ui.js showModal()/hideModal(): ONE #modal_overlay > .modal for the page; showModal
	   replaces its content and class and sets body.modal-overlay-active, hideModal only
	   removes that class: the dialog and its widgets stay in the DOM, hidden (by CSS). */
	showModal: function(title, children) {
		var classes = Array.prototype.slice.call(arguments, 2), o = document.getElementById('modal_overlay');
		if (!o) o = document.body.appendChild(E('div', { 'id': 'modal_overlay', 'tabindex': -1 }, [ E('div', { 'class': 'modal' }) ]));
		var dlg = o.firstElementChild;
		dlg.setAttribute('class', ['modal'].concat(classes).join(' '));
		dom.content(dlg, E('h4', {}, title));
		dom.append(dlg, children);
		document.body.classList.add('modal-overlay-active');
		return dlg;
	},
	hideModal: function() {
		document.body.classList.remove('modal-overlay-active');
	},
	createHandlerFn: function(ctx, fn) {
		var bound = Array.prototype.slice.call(arguments, 2);
		if (typeof fn === 'string') fn = ctx[fn];
		if (typeof fn !== 'function') return null;
		return function(ev) {
			var t = ev.currentTarget;
			t.classList.add('spinning'); t.disabled = true;
			return Promise.resolve(fn.apply(ctx, bound.concat([ev]))).finally(function() {
				t.classList.remove('spinning'); t.disabled = false;
			});
		};
	},
	/* ui.js addValidator(): nothing at all without a datatype (vfunc included); a
	   datatype typo is swallowed (§2.1); the check runs on 'blur' and 'keyup' only
	   (not on 'input': a value set by script, or by Playwright's fill(), is not
	   checked until one of those), and isValid() reports the state of the last
	   run (ui.js UIElement.isValid: validState), it does not check again. */
	addValidator: function(field, type, optional, vfunc) {
		if (type == null) return;
		var check;
		try { check = compile(type); } catch (e) { return; }
		var validate = function() {
			var v = field.value, err = null;
			if (v === '') { if (!optional) err = _('non-empty value'); }
			else if (!check(v)) err = _('valid value of type %s').format(type);
			if (err == null && vfunc) { var r = vfunc(v); if (r !== true) err = (r === false) ? _('valid value') : r; }
			field.classList.toggle('cbi-input-invalid', err != null);
			if (err != null) field.setAttribute('data-tooltip', _('Expecting: %s').format(err));
			else field.removeAttribute('data-tooltip');
			validate.valid = (err == null);
			return validate.valid;
		};
		[ 'blur', 'keyup' ].forEach(function(e) { field.addEventListener(e, validate); });
		validate();
		return validate;
	},
	instantiateView: function(path) {
		var viewEl = document.getElementById('view');
		return L.require('view.' + path.replace(/\//g, '.')).catch(function(e) {
			dom.content(viewEl, E('pre', { 'class': 'alert-message error' }, [ String(e) ]));
		});
	},
	changes: {
		/* §5: apply_rollback / apply_unchecked, then confirm. ui.js changes.confirm() then
		   shows "Configuration changes applied." and reloads the whole page
		   (window.location = ..., after L.env.apply_display s); here the view is
		   instantiated again in place, on a uci cache as fresh as a reload makes it
		   (state.reorder too, which uci.unload() would keep). */
		apply: function(checked) {
			var post = function(url) {
				return fetch(L.url('admin/uci', url) + '?sid=' + encodeURIComponent(L.env.sessionid), { method: 'POST' });
			};
			return post(checked ? 'apply_rollback' : 'apply_unchecked').then(function(r) {
				if (!r.ok && r.status !== 204) throw new Error('apply failed: ' + r.status);
				return checked ? post('confirm') : r;
			}).then(function() {
				ui.addNotification(null, E('p', [ _('Configuration changes applied.') ]), 'info');
				document.dispatchEvent(new CustomEvent('uci-applied'));
				uci.__init__();
				delete L.classes[L.currentView];
				return ui.instantiateView(L.currentView.replace(/^view\./, '').replace(/\./g, '/'));
			});
		}
	}
});

/* ---- form ------------------------------------------------------------------
 * Mirrors openwrt/luci modules/luci-base/htdocs/luci-static/resources/form.js
 * (mj22226/luci 46cd823) where the dprive views depend on it:
 *  - CBIMap.load(): every option's cfgvalue is read ONCE per load and cached
 *    (CBIAbstractSection.load -> option.cfgvalue(sid, option.load(sid)));
 *    CBIMap.save(): parse() -> cb -> uci.save() -> load() -> renderContents().
 *  - CBIAbstractValue.parse(): an empty value, or one EQUAL TO this.default
 *    while rmempty (true unless set) or optional, is removed (this.remove ->
 *    uci.unset); otherwise written when !isEqual(cfgvalue, formvalue). An
 *    inactive (not rendered) option is removed unless `retain`.
 *  - CBIFlagValue.parse(): formvalue == default && (rmempty || optional) ->
 *    remove, else write (always, without comparing).
 *  - CBIValue.renderFrame(): outside a table the description is a bare string
 *    child, i.e. innerHTML (dom.append); in a table cell it is only the
 *    td's data-description attribute.
 *  - CBITableSection.renderHeaderRows(): a row of option descriptions under
 *    the titles whenever one non-modalonly option has a description, unless
 *    `nodescriptions`; header cells carry no tooltip.
 *  - CBIGridSection.renderChildren(): modalonly options are left out of the
 *    table, the others are a widget if `editable`, else renderTextValue()
 *    (textvalue(), %h-escaped); parse() parses only editable, non-modalonly
 *    options; renderRowActions(): drag handle button, "Edit" (the modal),
 *    "Delete"; handleAdd(): uci.add then the modal (Dismiss removes it again).
 *  - CBITableSection.renderMoreOptionsModal(): a new CBIMap (not the view's
 *    map) with a NamedSection of the row; every option except
 *    modalonly === false is cloned with its title, description and own
 *    properties; handleModalSave(): that map's save(), then the parent map's
 *    load() and reset().
 *  - CBITableSection.handleDragStart/Enter/Over/Drop(): the drag starts only
 *    on the .drag-handle; the drop inserts the row above or below the row it
 *    is over and calls this.map.data.move(config, sid1, sid2, after).
 * Not here: tabs, depends, touch sorting, header-click sorting (handleSort),
 * max_cols, cloning, JSONMap.
 */
var cbid = function(map, sid, opt) { return 'cbid.' + map.config + '.' + sid + '.' + opt; };
var isEqual = function(x, y) {
	if (x == null || y == null) return x == y;
	if (typeof x !== typeof y) return false;
	if (Array.isArray(x)) return Array.isArray(y) && x.length === y.length && x.every(function(v, i) { return isEqual(v, y[i]); });
	return x === y;
};
var stripTags = function(s) { var d = document.createElement('div'); d.innerHTML = s == null ? '' : String(s); return d.textContent.trim(); };
var AbstractValue = Class.extend({
	__init__: function(map, section, option, title, description) {
		this.map = map; this.section = section; this.option = option;
		this.title = title || ''; this.description = description || '';
		this.rmempty = true; this.default = null; this.optional = false; this.retain = false;
		this.validators = {}; this.data = {};
	},
	load: function(sid) { return this.map.data.get(this.map.config, sid, this.option); },
	cfgvalue: function(sid, set) { if (arguments.length === 2) this.data[sid] = set; return this.data[sid]; },
	formvalue: function(sid) {
		var el = this.map.findElement('id', 'widget.' + cbid(this.map, sid, this.option));
		return el ? el.value : null;
	},
	textvalue: function(sid) {
		var v = this.cfgvalue(sid); if (v == null) v = this.default;
		if (Array.isArray(v)) v = v.join(' ');
		return v != null ? '%h'.format(v) : null;
	},
	write: function(sid, val) { return this.map.data.set(this.map.config, sid, this.option, val); },
	remove: function(sid) { this.map.data.unset(this.map.config, sid, this.option); },
	isActive: function(sid) { return this.map.findElement('data-field', cbid(this.map, sid, this.option)) != null; },
	isValid: function(sid) { var v = this.validators[sid]; return v ? v.valid !== false : true; },
	renderWidget: function(sid, cval) {
		var val = cval != null ? cval : this.default;
		var input = E('input', { 'type': 'text', 'class': 'cbi-input-text', 'id': 'widget.' + cbid(this.map, sid, this.option),
			'value': val == null ? '' : val, 'placeholder': this.placeholder });
		this.attachValidator(input, sid);
		return input;
	},
	attachValidator: function(input, sid) {
		var self = this;
		this.validators[sid] = ui.addValidator(input, this.datatype, this.optional || this.rmempty,
			this.validate ? function(v) { return self.validate(sid, v); } : null);
	},
	render: function(sid, inTable) {
		var w = this.renderWidget(sid, this.cfgvalue(sid));
		var field = { 'id': 'cbi-' + this.map.config + '-' + sid + '-' + this.option, 'data-field': cbid(this.map, sid, this.option) };
		if (inTable)
			return E('td', { 'class': 'td cbi-value-field', 'data-title': stripTags(this.title) || null,
				'data-description': stripTags(this.description), 'data-name': this.option, 'data-widget': this.__name__ },
				[ E('div', field, [ w ]) ]);
		field['class'] = 'cbi-value'; field['data-name'] = this.option; field['data-widget'] = this.__name__;
		return E('div', field, [
			this.title ? E('label', { 'class': 'cbi-value-title', 'for': 'widget.' + cbid(this.map, sid, this.option) }, this.title) : '',
			E('div', { 'class': 'cbi-value-field' }, [ w, this.description ? E('div', { 'class': 'cbi-value-description' }, this.description.trim()) : '' ])
		]);
	},
	parse: function(sid) {
		var active = this.isActive(sid);
		if (active && !this.isValid(sid))
			return Promise.reject(new TypeError(_('Option "%s" contains an invalid input value.').format(stripTags(this.title) || this.option)));
		if (active) {
			var cval = this.cfgvalue(sid), fval = this.formvalue(sid);
			if (fval == null || fval == '' || (fval == this.default && (this.optional || this.rmempty))) {
				if (this.rmempty || this.optional) return Promise.resolve(this.remove(sid));
				return Promise.reject(new TypeError(_('Option "%s" must not be empty.').format(stripTags(this.title) || this.option)));
			}
			if (this.forcewrite || !isEqual(cval, fval)) return Promise.resolve(this.write(sid, fval));
		}
		else if (!this.retain) return Promise.resolve(this.remove(sid));
		return Promise.resolve();
	}
});
var Value = AbstractValue.extend({ __name__: 'CBI.Value' });
var ListValue = AbstractValue.extend({
	__name__: 'CBI.ListValue',
	__init__: function() { this.super('__init__', arguments); this.keylist = []; this.vallist = []; },
	value: function(k, l) { this.keylist.push(String(k)); this.vallist.push(l != null ? l : k); },
	renderWidget: function(sid, cval) {
		var val = cval != null ? cval : this.default, self = this;
		return E('select', { 'class': 'cbi-input-select', 'id': 'widget.' + cbid(this.map, sid, this.option) },
			this.keylist.map(function(k, i) { return E('option', { 'value': k, 'selected': (String(val) === k) ? '' : null }, [ self.vallist[i] ]); }));
	}
});
var Flag = AbstractValue.extend({
	__name__: 'CBI.FlagValue',
	__init__: function() { this.super('__init__', arguments); this.enabled = '1'; this.disabled = '0'; this.default = this.disabled; },
	renderWidget: function(sid, cval) {
		var val = cval != null ? cval : this.default;
		return E('input', { 'type': 'checkbox', 'class': 'cbi-input-checkbox', 'id': 'widget.' + cbid(this.map, sid, this.option),
			'checked': (val == this.enabled) ? '' : null });
	},
	formvalue: function(sid) {
		var el = this.map.findElement('id', 'widget.' + cbid(this.map, sid, this.option));
		return (el && el.checked) ? this.enabled : this.disabled;
	},
	textvalue: function(sid) { var v = this.cfgvalue(sid); if (v == null) v = this.default; return (v == this.enabled) ? _('Yes') : _('No'); },
	parse: function(sid) {
		if (this.isActive(sid)) {
			var fval = this.formvalue(sid);
			if (!this.isValid(sid))
				return Promise.reject(new TypeError(_('Option "%s" contains an invalid input value.').format(stripTags(this.title) || this.option)));
			if (fval == this.default && (this.optional || this.rmempty)) return Promise.resolve(this.remove(sid));
			return Promise.resolve(this.write(sid, fval));
		}
		else if (!this.retain) return Promise.resolve(this.remove(sid));
	}
});
var DynamicList = Value.extend({
	__name__: 'CBI.DynamicList',
	renderWidget: function(sid, cval) {
		var self = this, vals = L.toArray(cval != null ? cval : this.default);
		var box = E('div', { 'class': 'cbi-dynlist', 'id': 'widget.' + cbid(this.map, sid, this.option) });
		var validators = [];
		var addItem = function(v) {
			var input = E('input', { 'type': 'text', 'class': 'cbi-input-text', 'value': v });
			var item = E('div', { 'class': 'item' }, [ input, E('button', { 'class': 'cbi-button cbi-button-remove', 'type': 'button',
				'click': function() { item.remove(); validators = validators.filter(function(x) { return x.input !== input; }); } }, [ '×' ]) ]);
			validators.push({ input: input, fn: ui.addValidator(input, self.datatype, true, self.validate ? function(x) { return self.validate(sid, x); } : null) });
			box.insertBefore(item, adder);
		};
		var newInput = E('input', { 'type': 'text', 'class': 'cbi-input-text add-item', 'placeholder': this.placeholder });
		var adder = E('div', { 'class': 'add-item' }, [ newInput, E('button', { 'class': 'cbi-button cbi-button-add', 'type': 'button',
			'click': function() { if (newInput.value !== '') { addItem(newInput.value); newInput.value = ''; } } }, [ '+' ]) ]);
		box.appendChild(adder);
		vals.forEach(addItem);
		this.validators[sid] = { get valid() { return validators.every(function(x) { return !x.fn || x.fn.valid !== false; }); } };
		return box;
	},
	formvalue: function(sid) {
		var box = this.map.findElement('id', 'widget.' + cbid(this.map, sid, this.option));
		if (!box) return null;
		return Array.prototype.map.call(box.querySelectorAll('.item input'), function(i) { return i.value; });
	}
});
var DummyValue = Value.extend({
	__name__: 'CBI.DummyValue',
	renderWidget: function(sid, cval) { return E('div', {}, [ cval == null ? (this.default || '') : cval ]); },
	parse: function() { return Promise.resolve(); }
});

var AbstractSection = Class.extend({
	__init__: function(map, sectiontype, title, description) {
		this.map = map; this.sectiontype = sectiontype; this.title = title || ''; this.description = description || '';
		this.children = [];
	},
	option: function(C) {
		if (!AbstractValue.isSubclass(C)) throw new TypeError('Class must be a descendant of CBIAbstractValue');
		var o = C.instantiate([ this.map, this ].concat(Array.prototype.slice.call(arguments, 1)));
		this.children.push(o);
		return o;
	},
	filter: function() { return true; },
	cfgsections: function() {
		var self = this;
		return this.map.data.sections(this.map.config, this.sectiontype)
			.map(function(s) { return s['.name']; }).filter(function(s) { return self.filter(s); });
	},
	load: function() {
		var self = this;
		this.cfgsections().forEach(function(sid) { self.children.forEach(function(o) { o.cfgvalue(sid, o.load(sid)); }); });
	},
	parse: function() {
		var self = this;
		return Promise.all(this.cfgsections().reduce(function(all, sid) {
			return all.concat(self.children.map(function(o) { return o.parse(sid); }));
		}, []));
	}
});
var NamedSection = AbstractSection.extend({
	__name__: 'CBI.NamedSection',
	__init__: function(map, sid, type, title, description) {
		this.super('__init__', [ map, type, title, description ]); this.section = sid;
	},
	cfgsections: function() { return [ this.section ]; },
	render: function() {
		var sid = this.section;
		return E('div', { 'class': 'cbi-section' }, [
			this.title ? E('h3', {}, this.title) : '',
			this.description ? E('div', { 'class': 'cbi-section-descr' }, this.description) : '',
			E('div', { 'class': 'cbi-section-node', 'id': 'cbi-' + this.map.config + '-' + sid }, this.children.map(function(o) { return o.render(sid, false); }))
		]);
	}
});
var dragState = null;
var GridSection = AbstractSection.extend({
	__name__: 'CBI.GridSection',
	handleAdd: function(ev, name) {
		var sid = this.map.data.add(this.map.config, this.sectiontype, name);
		this.map.addedSection = sid;
		return this.renderMoreOptionsModal(sid);
	},
	handleRemove: function(sid) {
		this.map.data.remove(this.map.config, sid);
		return this.map.save(null, true);
	},
	handleModalCancel: function(modalMap, ev, isSaving) {
		if (this.map.addedSection != null && !isSaving) this.map.data.remove(this.map.config, this.map.addedSection);
		delete this.map.addedSection;
		ui.hideModal();
		return Promise.resolve();
	},
	handleModalSave: function(modalMap, ev) {
		var self = this;
		return modalMap.save(null, true).then(function() { return self.map.load(); }).then(function() { return self.map.reset(); })
			.then(function() { return self.handleModalCancel(modalMap, ev, true); }).catch(function() {});
	},
	renderMoreOptionsModal: function(sid) {
		var self = this, m = new Map(this.map.config, null, null);
		var s = m.section(NamedSection, sid, this.sectiontype);
		m.parent = this.map;
		this.children.forEach(function(o1) {
			if (o1.modalonly === false) return;
			var o2 = s.option(o1.constructor, o1.option, o1.title, o1.description);
			Object.keys(o1).forEach(function(k) {
				if ([ 'map', 'section', 'option', 'title', 'description', 'data', 'validators' ].indexOf(k) < 0) o2[k] = o1[k];
			});
		});
		return m.render().then(function(nodes) {
			ui.showModal(self.map.title, [ nodes, E('div', { 'class': 'button-row' }, [
				E('button', { 'class': 'btn cbi-button', 'click': ui.createHandlerFn(self, 'handleModalCancel', m) }, [ _('Dismiss') ]), ' ',
				E('button', { 'class': 'btn cbi-button cbi-button-positive important', 'click': ui.createHandlerFn(self, 'handleModalSave', m) }, [ _('Save') ])
			]) ], 'cbi-modal');
		});
	},
	renderRowActions: function(sid, tr) {
		var self = this, btns = [];
		if (this.sortable) btns.push(E('button', { 'title': _('Drag to reorder'), 'class': 'cbi-button drag-handle center', 'draggable': 'true',
			'dragstart': function(ev) {
				if (!ev.target.classList.contains('drag-handle')) { dragState = null; return; }
				dragState = { node: tr }; ev.dataTransfer.setData('text', 'drag');
			} }, '☰'));
		btns.push(E('button', { 'title': _('Edit'), 'class': 'btn cbi-button cbi-button-edit',
			'click': ui.createHandlerFn(this, 'renderMoreOptionsModal', sid) }, [ _('Edit') ]));
		if (this.addremove) btns.push(E('button', { 'title': _('Delete'), 'class': 'btn cbi-button cbi-button-remove',
			'click': ui.createHandlerFn(this, 'handleRemove', sid) }, [ _('Delete') ]));
		return E('td', { 'class': 'td cbi-section-table-cell nowrap cbi-section-actions' }, [ E('div', {}, btns) ]);
	},
	handleDrop: function(ev) {
		var s = dragState;
		if (!s) return;
		if (s.node && s.targetNode) {
			var ref = s.targetNode, after = false;
			if (ref.classList.contains('drag-over-below')) { ref = ref.nextElementSibling; after = true; }
			s.node.parentNode.insertBefore(s.node, ref);
			this.map.data.move(this.map.config, s.node.getAttribute('data-sid'), s.targetNode.getAttribute('data-sid'), after);
		}
		dragState = null;
		ev.preventDefault();
	},
	renderTextValue: function(sid, o) {
		var v = o.textvalue(sid);
		return E('td', { 'class': 'td cbi-value-field', 'data-title': stripTags(o.title) || null, 'data-description': stripTags(o.description) || null,
			'data-name': o.option, 'data-widget': 'CBI.DummyValue' }, v != null ? v : E('em', _('none')));
	},
	render: function() {
		var self = this, cols = this.children.filter(function(o) { return !o.modalonly; });
		var rows = this.cfgsections().map(function(sid) {
			var tr = E('tr', { 'class': 'tr cbi-section-table-row', 'data-sid': sid, 'id': 'cbi-' + self.map.config + '-' + sid,
				'dragenter': function(ev) { if (dragState) { dragState.rect = ev.currentTarget.getBoundingClientRect(); dragState.targetNode = ev.currentTarget; } },
				'dragover': function(ev) {
					if (!dragState || !dragState.targetNode) return;
					var n = dragState.targetNode, below = ev.clientY > dragState.rect.top + dragState.rect.height / 2;
					n.classList.toggle('drag-over-above', !below); n.classList.toggle('drag-over-below', below);
					ev.preventDefault();
				},
				'dragleave': function(ev) { ev.currentTarget.classList.remove('drag-over-above', 'drag-over-below'); },
				'drop': function(ev) { return self.handleDrop(ev); } });
			cols.forEach(function(o) { tr.appendChild(o.editable ? o.render(sid, true) : self.renderTextValue(sid, o)); });
			tr.appendChild(self.renderRowActions(sid, tr));
			return tr;
		});
		var head = [ E('tr', { 'class': 'tr cbi-section-table-titles anonymous' },
			cols.map(function(o) { return E('th', { 'class': 'th cbi-section-table-cell', 'data-widget': o.__name__ }, o.title); }).concat([ E('th', { 'class': 'th cbi-section-table-cell cbi-section-actions' }) ])) ];
		if (!this.nodescriptions && cols.some(function(o) { return !!o.description; }))
			head.push(E('tr', { 'class': 'tr cbi-section-table-descr anonymous' },
				cols.map(function(o) { return E('th', { 'class': 'th cbi-section-table-cell', 'data-widget': o.__name__ }, o.description); }).concat([ E('th', { 'class': 'th cbi-section-table-cell cbi-section-actions' }) ])));
		return E('div', { 'class': 'cbi-section cbi-tblsection', 'id': 'cbi-' + this.map.config + '-' + this.sectiontype }, [
			this.title ? E('h3', {}, this.title) : '',
			this.description ? E('div', { 'class': 'cbi-section-descr' }, this.description) : '',
			E('table', { 'class': 'table cbi-section-table' }, [ E('thead', { 'class': 'thead cbi-section-thead' }, head),
				E('tbody', { 'class': 'tbody cbi-section-tbody' }, rows.length ? rows :
					[ E('tr', { 'class': 'tr cbi-section-table-row placeholder' }, [ E('td', { 'class': 'td' }, [ E('em', {}, [ _('This section contains no values yet') ]) ]) ]) ]) ]),
			this.addremove ? E('div', { 'class': 'cbi-section-create' }, [ E('button', { 'class': 'cbi-button cbi-button-add', 'type': 'button',
				'click': ui.createHandlerFn(this, 'handleAdd') }, [ this.addbtntitle || _('Add') ]) ]) : ''
		]);
	},
	parse: function() {
		var self = this;
		return Promise.all(this.cfgsections().reduce(function(all, sid) {
			return all.concat(self.children.filter(function(o) { return o.editable && !o.modalonly; }).map(function(o) { return o.parse(sid); }));
		}, []));
	}
});

var Map = Class.extend({
	__name__: 'CBI.Map',
	__init__: function(config, title, description) {
		this.config = config; this.title = title || ''; this.description = description || '';
		this.children = []; this.data = uci; this.readonly = false; this.root = null;
	},
	section: function(C) {
		if (!AbstractSection.isSubclass(C)) throw new TypeError('Class must be a descendant of CBIAbstractSection');
		var s = C.instantiate([ this ].concat(Array.prototype.slice.call(arguments, 1)));
		this.children.push(s);
		return s;
	},
	load: function() {
		var self = this;
		return this.data.load(this.config).then(function() { self.children.forEach(function(s) { s.load(); }); });
	},
	findElement: function(attr, value) {
		return this.root ? this.root.querySelector('[' + attr + '="' + String(value).replace(/"/g, '\\"') + '"]') : null;
	},
	renderContents: function() {
		if (!this.root) { this.root = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + this.config }); }
		dom.bindClassInstance(this.root, this);
		dom.content(this.root, [
			this.title ? E('h2', { 'name': 'content' }, this.title) : '',
			this.description ? E('div', { 'class': 'cbi-map-descr' }, this.description) : ''
		].concat(this.children.map(function(s) { return s.render(); })));
		return Promise.resolve(this.root);
	},
	render: function() { return this.load().then(this.renderContents.bind(this)); },
	parse: function() { return Promise.all(this.children.map(function(s) { return s.parse(); })); },
	save: function(cb, silent) {
		var self = this;
		return this.parse().then(cb).then(function() { return self.data.save(); }).then(function() { return self.load(); })
			.catch(function(e) {
				if (!silent) ui.showModal(_('Save error'), [ E('p', {}, [ _('An error occurred while saving the form:') ]),
					E('p', {}, [ E('em', { 'style': 'white-space:pre-wrap' }, [ e.message ]) ]),
					E('div', { 'class': 'right' }, [ E('button', { 'class': 'cbi-button', 'click': ui.hideModal.bind(ui) }, [ _('Dismiss') ]) ]) ], 'cbi-modal');
				return Promise.reject(e);
			}).then(function() { return self.renderContents(); });
	},
	reset: function() { return this.renderContents(); }
});
var form = { Map: Map, NamedSection: NamedSection, GridSection: GridSection,
	Value: Value, ListValue: ListValue, Flag: Flag, DynamicList: DynamicList, DummyValue: DummyValue, AbstractValue: AbstractValue };

/* ---- view (§1.1) ----------------------------------------------------------- */
var view = Class.extend({
	__name__: 'LuCI.view',
	__init__: function() {
		var self = this, vp = document.getElementById('view');
		dom.content(vp, E('div', { 'class': 'spinning' }, [ _('Loading view…') ]));
		return Promise.resolve(this.load()).then(function(data) { return self.render(data); }).then(function(nodes) {
			dom.content(vp, nodes);
			dom.append(vp, self.addFooter());
		}).catch(L.error.bind(L));
	},
	load: function() {},
	render: function() {},
	handleSave: function(ev) {
		var maps = document.querySelectorAll('#maincontent .cbi-map');
		return Promise.all(Array.prototype.map.call(maps, function(m) { return dom.callClassMethod(m, 'save'); }));
	},
	/* luci.js view.handleSaveApply(): the apply is started, not waited for */
	handleSaveApply: function(ev, mode) {
		return this.handleSave(ev).then(function() { ui.changes.apply(mode == '0'); });
	},
	handleReset: function(ev) {
		var maps = document.querySelectorAll('#maincontent .cbi-map');
		return Promise.all(Array.prototype.map.call(maps, function(m) { return dom.callClassMethod(m, 'reset'); }));
	},
	addFooter: function() {
		var btns = [];
		/* luci.js View.addFooter(): "Save & Apply" is a ui.ComboButton, a div.cbi-dropdown
		   (not a button) whose click calls handleSaveApply(ev, '0'); its second choice,
		   "Apply unchecked", is left out here */
		if (this.handleSaveApply) btns.push(E('div', { 'class': 'cbi-dropdown btn cbi-button cbi-button-apply important', 'tabindex': '0',
			'click': ui.createHandlerFn(this, function(ev) { return this.handleSaveApply(ev, '0'); }) },
			[ E('ul', {}, [ E('li', { 'display': '0', 'data-value': '0' }, [ _('Save & Apply') ]) ]) ]));
		if (this.handleSave) btns.push(E('button', { 'class': 'cbi-button cbi-button-save', 'click': ui.createHandlerFn(this, 'handleSave') }, [ _('Save') ]));
		if (this.handleReset) btns.push(E('button', { 'class': 'cbi-button cbi-button-reset', 'click': ui.createHandlerFn(this, 'handleReset') }, [ _('Reset') ]));
		return btns.length ? E('div', { 'class': 'cbi-page-actions' }, btns) : E([]);
	}
});

/* ---- L and the module loader (§1.1) ------------------------------------------ */
var builtins = { baseclass: Class, view: view, form: form, rpc: rpc, uci: uci, poll: poll, ui: ui, dom: dom, validation: validation };
var L = window.L = {
	env: window.LUCI_ENV || {},
	classes: {},
	dom: dom, Poll: poll, ui: ui,
	bind: function(fn, self) { var a = Array.prototype.slice.call(arguments, 2); return function() { return fn.apply(self, a.concat(Array.prototype.slice.call(arguments))); }; },
	isObject: function(v) { return v != null && typeof v === 'object'; },
	toArray: function(v) {
		if (v == null) return [];
		if (Array.isArray(v)) return v;
		if (L.isObject(v)) return [ v ];
		var s = String(v).trim(); return s === '' ? [] : s.split(/\s+/);
	},
	resolveDefault: function(value, def) { return Promise.resolve(value).catch(function() { return def; }); },
	url: function() { return [ L.env.scriptname ].concat(Array.prototype.slice.call(arguments)).join('/').replace(/\/+/g, '/'); },
	hasViewPermission: function() { return true; },
	raise: function(type, fmt) {
		var msg = fmt.format.apply(fmt, Array.prototype.slice.call(arguments, 2));
		var e = new Error(msg); e.name = type; throw e;
	},
	error: function(e) {
		var vp = document.getElementById('view');
		if (vp && vp.querySelector('.spinning')) dom.content(vp, '');
		ui.addNotification(e.name || 'Error', E('pre', {}, [ e.message ]), 'danger');
		throw e;
	},
	require: function(name) {
		if (builtins[name]) return Promise.resolve(builtins[name]);
		if (L.classes[name]) return L.classes[name];
		L.currentView = /^view\./.test(name) ? name : L.currentView;
		var url = L.env.resource + '/' + name.replace(/\./g, '/') + '.js?v=standin';
		return L.classes[name] = fetch(url).then(function(r) {
			if (!r.ok) throw new Error('Unable to load ' + url + ': HTTP ' + r.status);
			return r.text();
		}).then(function(src) {
			var deps = [], aliases = [], re = /^\s*(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*\s*(['"])(.*?)\1;?/, m, rest = src;
			var requirematch = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/, strictmatch = /^use[ \t]+strict$/;
			while ((m = re.exec(rest)) !== null) {
				var r = requirematch.exec(m[2]);
				if (r) { deps.push(r[1]); aliases.push(r[2] || r[1].replace(/[^a-zA-Z0-9_]/g, '_')); }
				else if (!strictmatch.test(m[2])) break;
				rest = rest.slice(m[0].length);
			}
			return Promise.all(deps.map(L.require)).then(function(instances) {
				var factory = new Function([ 'window', 'document', 'L' ].concat(aliases).join(','), src + '\n//# sourceURL=' + url);
				var C = factory.apply(window, [ window, document, L ].concat(instances));
				if (typeof C !== 'function' || !(C === Class || C.prototype instanceof Class))
					L.raise('TypeError', '"%s" factory yields invalid constructor', name);
				return new C();
			});
		});
	}
};
window.E = E;
window._ = _;
window.N_ = function(n, s, p) { return n === 1 ? s : p; };
})(window, document);
