/*
 * A thin stand-in for the part of LuCI's client API that the dprive views use.
 * Written for the tests from the descriptions in shared notes/luci.md (which
 * quote openwrt/luci luci.js, rpc.js, form.js, uci.js, ui.js, validation.js);
 * no LuCI code is copied. Section numbers below refer to those notes.
 * What it does not do (on purpose): tabs, depends(), modal section editing,
 * rollback timers, translations, CSS.
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

/* ---- uci client cache (§1.7) --------------------------------------------- */
var uciGet = rpc.declare({ object: 'uci', method: 'get', params: ['config'], expect: { values: {} } });
var uciAdd = rpc.declare({ object: 'uci', method: 'add', params: ['config', 'type', 'name', 'values'], expect: { section: '' } });
var uciSet = rpc.declare({ object: 'uci', method: 'set', params: ['config', 'section', 'values'] });
var uciDelete = rpc.declare({ object: 'uci', method: 'delete', params: ['config', 'section', 'options'] });
var uciOrder = rpc.declare({ object: 'uci', method: 'order', params: ['config', 'sections'] });
var uciChanges = rpc.declare({ object: 'uci', method: 'changes', expect: { changes: {} } });
var newId = 0;
var uci = Class.singleton({
	__init__: function() { this.state = { values: {}, creates: {}, changes: {}, deletes: {}, reorder: {} }; },
	load: function(configs) {
		var self = this, list = L.toArray(configs);
		return Promise.all(list.map(function(c) {
			if (self.state.values[c]) return c;
			return uciGet(c).then(function(v) { self.state.values[c] = v; return c; });
		}));
	},
	unload: function(configs) {
		var self = this;
		L.toArray(configs).forEach(function(c) {
			delete self.state.values[c]; delete self.state.creates[c]; delete self.state.changes[c];
			delete self.state.deletes[c]; delete self.state.reorder[c];
		});
	},
	_all: function(conf) {
		var v = this.state.values[conf] || {}, c = this.state.creates[conf] || {}, out = {};
		Object.keys(v).forEach(function(s) { out[s] = v[s]; });
		Object.keys(c).forEach(function(s) { out[s] = c[s]; });
		return out;
	},
	sections: function(conf, type, cb) {
		var all = this._all(conf), dels = this.state.deletes[conf] || {};
		var list = Object.keys(all).filter(function(s) { return !dels[s] && (!type || all[s]['.type'] === type); })
			.map(function(s) { return all[s]; })
			.sort(function(a, b) { return a['.index'] - b['.index']; });
		if (cb) list.forEach(function(s) { cb.call(this, s, s['.name']); });
		return list;
	},
	get: function(conf, sid, opt) {
		var all = this._all(conf), s = all[sid];
		if (!s || (this.state.deletes[conf] || {})[sid]) return null;
		if (opt == null) return s;
		var ch = (this.state.changes[conf] || {})[sid];
		if (ch && opt in ch) return ch[opt];
		return s[opt];
	},
	get_first: function(conf, type, opt) {
		var s = this.sections(conf, type)[0];
		return s ? this.get(conf, s['.name'], opt) : null;
	},
	set: function(conf, sid, opt, val) {
		var c = (this.state.creates[conf] || {})[sid];
		if (c) { if (val == null || val === '') delete c[opt]; else c[opt] = val; return; }
		var cur = this.state.values[conf] && this.state.values[conf][sid];
		var pending = this.state.changes[conf] && this.state.changes[conf][sid];
		if (val == null && !(cur && opt in cur) && !(pending && opt in pending)) return;   /* nothing to delete */
		var ch = this.state.changes[conf] = this.state.changes[conf] || {};
		ch[sid] = ch[sid] || {};
		ch[sid][opt] = (val === '') ? null : val;
	},
	unset: function(conf, sid, opt) { this.set(conf, sid, opt, null); },
	add: function(conf, type, name) {
		var sid = name || ('new' + ('000000' + (++newId).toString(16)).slice(-6));
		var c = this.state.creates[conf] = this.state.creates[conf] || {};
		var n = this.sections(conf).length;
		c[sid] = { '.name': sid, '.type': type, '.anonymous': !name, '.index': 1000 + n };
		return sid;
	},
	remove: function(conf, sid) {
		var c = this.state.creates[conf] || {};
		if (c[sid]) { delete c[sid]; return; }
		(this.state.deletes[conf] = this.state.deletes[conf] || {})[sid] = true;
	},
	move: function(conf, sid1, sid2, after) {
		var list = this.sections(conf), moving = this.get(conf, sid1);
		if (!moving) return false;
		list = list.filter(function(s) { return s['.name'] !== sid1; });
		var idx = sid2 == null ? list.length : list.findIndex(function(s) { return s['.name'] === sid2; }) + (after ? 1 : 0);
		list.splice(idx, 0, moving);
		list.forEach(function(s, i) { s['.index'] = i; });
		this.state.reorder[conf] = true;
		return true;
	},
	save: function() {
		var self = this, st = this.state, configs = {};
		[st.creates, st.changes, st.deletes, st.reorder].forEach(function(m) { Object.keys(m).forEach(function(c) { configs[c] = true; }); });
		return Object.keys(configs).reduce(function(p, conf) {
			var idmap = {};
			return p.then(function() {
				return Promise.all(Object.keys(st.deletes[conf] || {}).map(function(sid) { return uciDelete(conf, sid, null); }));
			}).then(function() {
				var creates = st.creates[conf] || {};
				return Object.keys(creates).reduce(function(q, sid) {
					var s = creates[sid], values = {};
					Object.keys(s).forEach(function(k) { if (k.charAt(0) !== '.') values[k] = s[k]; });
					return q.then(function() {
						return uciAdd(conf, s['.type'], s['.anonymous'] ? null : sid, values).then(function(real) { idmap[sid] = real; });
					});
				}, Promise.resolve());
			}).then(function() {
				var ch = st.changes[conf] || {};
				return Promise.all(Object.keys(ch).map(function(sid) {
					var sets = {}, dels = [];
					Object.keys(ch[sid]).forEach(function(o) { if (ch[sid][o] == null) dels.push(o); else sets[o] = ch[sid][o]; });
					var calls = [];
					if (Object.keys(sets).length) calls.push(uciSet(conf, sid, sets));
					if (dels.length) calls.push(uciDelete(conf, sid, dels));
					return Promise.all(calls);
				}));
			}).then(function() {
				if (!st.reorder[conf]) return;
				return uciOrder(conf, self.sections(conf).map(function(s) { return idmap[s['.name']] || s['.name']; }));
			}).then(function() { self.unload(conf); return self.load(conf); });
		}, Promise.resolve());
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
	showModal: function(title, children) {
		var classes = Array.prototype.slice.call(arguments, 2);
		this.hideModal();
		var m = E('div', { 'class': 'modal ' + classes.join(' ') }, [ title ? E('h4', {}, [ title ]) : '', E('div', {}, [].concat(children)) ]);
		document.body.appendChild(E('div', { id: 'modal_overlay' }, [ m ]));
		document.body.classList.add('modal-overlay-active');
		return m;
	},
	hideModal: function() {
		var o = document.getElementById('modal_overlay');
		if (o) o.remove();
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
	addValidator: function(field, type, optional, vfunc) {
		var check;
		try { check = type ? compile(type) : null; } catch (e) { check = null; }  /* §2.1: typo = no validation */
		var validate = function() {
			var v = field.value, err = null;
			if (v === '') { if (!optional) err = _('non-empty value'); }
			else if (check && !check(v)) err = _('valid value of type %s').format(type);
			if (err == null && vfunc) { var r = vfunc(v); if (r !== true) err = (r === false) ? _('valid value') : r; }
			field.classList.toggle('cbi-input-invalid', err != null);
			if (err != null) field.setAttribute('data-tooltip', _('Expecting: %s').format(err));
			else field.removeAttribute('data-tooltip');
			return err == null;
		};
		[ 'keyup', 'blur', 'input', 'change' ].forEach(function(e) { field.addEventListener(e, validate); });
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
		/* §5: apply_rollback / apply_unchecked, then confirm, then the view reloads */
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
				uci.unload(Object.keys(uci.state.values));
				delete L.classes[L.currentView];
				return ui.instantiateView(L.currentView.replace(/^view\./, '').replace(/\./g, '/'));
			});
		}
	}
});

/* ---- form (§1.5) ----------------------------------------------------------- */
var cbid = function(map, sid, opt) { return 'cbid.' + map.config + '.' + sid + '.' + opt; };
var AbstractValue = Class.extend({
	__init__: function(map, section, option, title, description) {
		this.map = map; this.section = section; this.option = option;
		this.title = title || ''; this.description = description || '';
		this.rmempty = true; this.default = null; this.optional = false; this.retain = false;
		this.validators = {};
	},
	cfgvalue: function(sid) { return this.map.data.get(this.map.config, sid, this.option); },
	formvalue: function(sid) {
		var el = this.map.findElement('id', 'widget.' + cbid(this.map, sid, this.option));
		return el ? el.value : null;
	},
	textvalue: function(sid) { var v = this.cfgvalue(sid); return v == null ? this.default : v; },
	write: function(sid, val) { this.map.data.set(this.map.config, sid, this.option, val); },
	remove: function(sid) { this.map.data.unset(this.map.config, sid, this.option); },
	isValid: function(sid) { var v = this.validators[sid]; return v ? v() : true; },
	renderWidget: function(sid) {
		var val = this.cfgvalue(sid); if (val == null) val = this.default;
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
		var w = this.renderWidget(sid);
		var attrs = { 'class': 'cbi-value', 'id': 'cbi-' + this.map.config + '-' + sid + '-' + this.option,
			'data-name': this.option, 'data-widget': this.__name__, 'data-field': cbid(this.map, sid, this.option) };
		if (inTable) {
			attrs['class'] = 'td cbi-value-field'; attrs['data-title'] = this.title;
			return E('td', attrs, [ w ]);
		}
		return E('div', attrs, [
			E('label', { 'class': 'cbi-value-title', 'for': 'widget.' + cbid(this.map, sid, this.option) }, [ this.title ]),
			E('div', { 'class': 'cbi-value-field' }, [ w, this.description ? E('div', { 'class': 'cbi-value-description' }, [ this.description ]) : '' ])
		]);
	},
	parse: function(sid) {
		if (!this.map.findElement('data-field', cbid(this.map, sid, this.option))) return Promise.resolve();  /* not rendered */
		var fval = this.formvalue(sid), cval = this.cfgvalue(sid);
		if (!this.isValid(sid)) {
			return Promise.reject(new TypeError(_('Option "%s" contains an invalid input value.').format(this.title || this.option)));
		}
		if (fval == null || fval === '' || (Array.isArray(fval) && !fval.length)) {
			if (this.rmempty || this.optional) return Promise.resolve(this.remove(sid));
			return Promise.reject(new TypeError(_('Option "%s" must not be empty.').format(this.title || this.option)));
		}
		if (this.forcewrite || JSON.stringify(cval) !== JSON.stringify(fval)) return Promise.resolve(this.write(sid, fval));
		return Promise.resolve();
	}
});
var Value = AbstractValue.extend({ __name__: 'CBI.Value' });
var ListValue = AbstractValue.extend({
	__name__: 'CBI.ListValue',
	__init__: function() { this.super('__init__', arguments); this.keylist = []; this.vallist = []; },
	value: function(k, l) { this.keylist.push(String(k)); this.vallist.push(l != null ? l : k); },
	renderWidget: function(sid) {
		var val = this.cfgvalue(sid); if (val == null) val = this.default;
		var self = this;
		return E('select', { 'class': 'cbi-input-select', 'id': 'widget.' + cbid(this.map, sid, this.option) },
			this.keylist.map(function(k, i) { return E('option', { 'value': k, 'selected': (String(val) === k) ? '' : null }, [ self.vallist[i] ]); }));
	}
});
var Flag = AbstractValue.extend({
	__name__: 'CBI.Flag',
	__init__: function() { this.super('__init__', arguments); this.enabled = '1'; this.disabled = '0'; this.default = this.disabled; },
	renderWidget: function(sid) {
		var val = this.cfgvalue(sid); if (val == null) val = this.default;
		return E('input', { 'type': 'checkbox', 'class': 'cbi-input-checkbox', 'id': 'widget.' + cbid(this.map, sid, this.option),
			'checked': (val === this.enabled) ? '' : null });
	},
	formvalue: function(sid) {
		var el = this.map.findElement('id', 'widget.' + cbid(this.map, sid, this.option));
		return el ? (el.checked ? this.enabled : this.disabled) : null;
	},
	parse: function(sid) {
		if (!this.map.findElement('data-field', cbid(this.map, sid, this.option))) return Promise.resolve();
		var fval = this.formvalue(sid), cval = this.cfgvalue(sid);
		if (fval === this.default && (this.rmempty || this.optional)) return Promise.resolve(cval == null ? undefined : this.remove(sid));
		if (cval !== fval) return Promise.resolve(this.write(sid, fval));
		return Promise.resolve();
	}
});
var DynamicList = AbstractValue.extend({
	__name__: 'CBI.DynamicList',
	cfgvalue: function(sid) { var v = this.map.data.get(this.map.config, sid, this.option); return v == null ? null : L.toArray(v); },
	renderWidget: function(sid) {
		var self = this, vals = this.cfgvalue(sid) || [];
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
		this.validators[sid] = function() { return validators.every(function(x) { return x.fn(); }); };
		return box;
	},
	formvalue: function(sid) {
		var box = this.map.findElement('id', 'widget.' + cbid(this.map, sid, this.option));
		if (!box) return null;
		return Array.prototype.map.call(box.querySelectorAll('.item input'), function(i) { return i.value; });
	}
});
var DummyValue = AbstractValue.extend({
	__name__: 'CBI.DummyValue',
	renderWidget: function(sid) { var v = this.cfgvalue(sid); return E('div', {}, [ v == null ? (this.default || '') : v ]); },
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
		return E('fieldset', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + sid }, [
			this.title ? E('h3', {}, [ this.title ]) : '',
			this.description ? E('div', { 'class': 'cbi-section-descr' }, [ this.description ]) : '',
			E('div', { 'class': 'cbi-section-node' }, this.children.map(function(o) { return o.render(sid, false); }))
		]);
	}
});
var TypedSection = AbstractSection.extend({
	__name__: 'CBI.TypedSection',
	handleAdd: function(ev, name) {
		this.map.data.add(this.map.config, this.sectiontype, name);
		return this.map.save(null, true);
	},
	handleRemove: function(sid) {
		this.map.data.remove(this.map.config, sid);
		return this.map.save(null, true);
	},
	renderAddButton: function() {
		return this.addremove ? E('div', { 'class': 'cbi-section-create' }, [
			E('button', { 'class': 'cbi-button cbi-button-add', 'type': 'button', 'click': ui.createHandlerFn(this, 'handleAdd') },
				[ this.addbtntitle || _('Add') ]) ]) : '';
	},
	render: function() {
		var self = this;
		return E('fieldset', { 'class': 'cbi-section', 'id': 'cbi-' + this.map.config + '-' + this.sectiontype }, [
			this.title ? E('h3', {}, [ this.title ]) : '',
			this.cfgsections().map(function(sid) {
				return E('div', { 'class': 'cbi-section-node', 'id': 'cbi-' + self.map.config + '-' + sid },
					self.children.map(function(o) { return o.render(sid, false); }));
			}),
			this.renderAddButton()
		]);
	}
});
/* TableSection/GridSection: one row per section; this stand-in renders every
 * option in the table (as `editable = true` does) and has no edit modal. */
var TableSection = TypedSection.extend({
	__name__: 'CBI.TableSection',
	render: function() {
		var self = this, dragged = null;
		var rows = this.cfgsections().map(function(sid) {
			var cells = self.children.filter(function(o) { return o.modalonly !== true; }).map(function(o) { return o.render(sid, true); });
			var actions = [];
			if (self.sortable) actions.push(E('div', { 'class': 'btn cbi-button drag-handle', 'draggable': 'true', 'title': _('Drag to reorder'),
				'dragstart': function(ev) { dragged = sid; ev.dataTransfer.setData('text', sid); } }, [ '☰' ]));
			if (self.addremove) actions.push(E('button', { 'class': 'cbi-button cbi-button-remove', 'type': 'button',
				'click': ui.createHandlerFn(self, 'handleRemove', sid) }, [ _('Delete') ]));
			return E('tr', { 'class': 'tr cbi-section-table-row', 'data-sid': sid,
				'dragover': function(ev) { ev.preventDefault(); },
				'drop': function(ev) {
					ev.preventDefault();
					var from = dragged || ev.dataTransfer.getData('text');
					if (!from || from === sid) return;
					var r = ev.currentTarget.getBoundingClientRect(), after = ev.clientY > r.top + r.height / 2;
					self.map.data.move(self.map.config, from, sid, after);
					var tr = self.map.findElement('data-sid', from);
					ev.currentTarget.parentNode.insertBefore(tr, after ? ev.currentTarget.nextSibling : ev.currentTarget);
				} }, cells.concat([ E('td', { 'class': 'td cbi-section-table-cell nowrap cbi-section-actions' }, actions) ]));
		});
		var head = E('tr', { 'class': 'tr cbi-section-table-titles' }, this.children.filter(function(o) { return o.modalonly !== true; })
			.map(function(o) { return E('th', { 'class': 'th cbi-section-table-cell', 'title': o.description }, [ o.title ]); }).concat([ E('th', { 'class': 'th' }) ]));
		return E('fieldset', { 'class': 'cbi-section cbi-tblsection', 'id': 'cbi-' + this.map.config + '-' + this.sectiontype }, [
			this.title ? E('h3', {}, [ this.title ]) : '',
			this.description ? E('div', { 'class': 'cbi-section-descr' }, [ this.description ]) : '',
			E('table', { 'class': 'table cbi-section-table' }, [ head ].concat(rows.length ? rows :
				[ E('tr', { 'class': 'tr placeholder' }, [ E('td', { 'class': 'td' }, [ _('This section contains no values yet') ]) ]) ])),
			this.renderAddButton()
		]);
	}
});
var GridSection = TableSection.extend({ __name__: 'CBI.GridSection' });

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
	load: function() { return this.data.load(this.config); },
	findElement: function(attr, value) {
		return this.root ? this.root.querySelector('[' + attr + '="' + String(value).replace(/"/g, '\\"') + '"]') : null;
	},
	render: function() {
		var self = this;
		return this.load().then(function() {
			if (!self.root) { self.root = E('div', { 'class': 'cbi-map', 'id': 'cbi-' + self.config }); dom.bindClassInstance(self.root, self); }
			dom.content(self.root, [
				self.title ? E('h2', { 'name': 'content' }, [ self.title ]) : '',
				self.description ? E('div', { 'class': 'cbi-map-descr' }, [ self.description ]) : '',
				E('div', { 'class': 'cbi-map-body' }, self.children.map(function(s) { return s.render(); }))
			]);
			return self.root;
		});
	},
	parse: function() { return Promise.all(this.children.map(function(s) { return s.parse(); })); },
	save: function(cb, silent) {
		var self = this;
		return this.parse().then(cb).then(function() { return self.data.save(); }).then(function() { return self.render(); })
			.catch(function(e) {
				if (!silent) ui.showModal(_('Save error'), [ E('p', {}, [ _('An error occurred while saving the form:') ]),
					E('p', {}, [ E('em', { 'style': 'white-space:pre-wrap' }, [ e.message ]) ]),
					E('div', { 'class': 'right' }, [ E('button', { 'class': 'cbi-button', 'click': ui.hideModal.bind(ui) }, [ _('Dismiss') ]) ]) ], 'cbi-modal');
				return Promise.reject(e);
			});
	},
	reset: function() { return this.render(); }
});
var form = { Map: Map, NamedSection: NamedSection, TypedSection: TypedSection, TableSection: TableSection, GridSection: GridSection,
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
	handleSaveApply: function(ev, mode) {
		return this.handleSave(ev).then(function() { return ui.changes.apply(mode == '0'); });
	},
	handleReset: function(ev) {
		var maps = document.querySelectorAll('#maincontent .cbi-map');
		return Promise.all(Array.prototype.map.call(maps, function(m) { return dom.callClassMethod(m, 'reset'); }));
	},
	addFooter: function() {
		var btns = [];
		if (this.handleSaveApply) btns.push(E('button', { 'class': 'cbi-button cbi-button-apply', 'click': ui.createHandlerFn(this, 'handleSaveApply', '0') }, [ _('Save & Apply') ]));
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
