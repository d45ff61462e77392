'use strict';
'require view';
'require form';
'require uci';
'require ui';
'require rpc';
'require dprive.schema as schema';

/*
 * dprive settings: /etc/config/dprive. Every field is validated with the rules
 * of dprive.schema (the same description `dprive check` uses), carried here by
 * the generated module dprive/schema.js.
 */

var PRESETS = [
	{ id: 'cloudflare', name: 'Cloudflare', address: '1.1.1.1', auth_name: 'cloudflare-dns.com' },
	{ id: 'quad9', name: 'Quad9', address: '9.9.9.9', auth_name: 'dns.quad9.net' },
	{ id: 'google', name: 'Google', address: '8.8.8.8', auth_name: 'dns.google' }
];

/* The general settings; every other option of schema.main is under "Advanced
   settings", so every option of the schema, with its help, is on the page. */
var MAIN_FIELDS = [
	'listen_port', 'profile', 'tls_min_version', 'padding_block', 'dnsmasq', 'force_dns',
	'keep_warm', 'log_level'
];
/* The columns of the upstreams grid; every option (these and the rest of
   schema.upstream) is in the row's Edit dialog, with its help. */
var GRID_COLUMNS = [ 'name', 'address', 'port', 'auth_name', 'transport', 'enabled' ];
var GRID_EDITABLE = [ 'enabled' ];

var TITLES = {
	listen_address: _('Listen addresses'), listen_port: _('Listen port'), profile: _('Privacy profile'),
	ca_bundle: _('CA bundle'), tls_min_version: _('Minimum TLS version'), padding_block: _('Padding block (bytes)'),
	query_timeout_ms: _('Query timeout (ms)'), connect_timeout_ms: _('Connect timeout (ms)'),
	attempt_min_ms: _('Shortest attempt (ms)'), backoff_max_s: _('Longest back-off (s)'),
	max_pending_queries: _('Pending queries at most'), max_tcp_clients: _('LAN TCP clients at most'),
	tcp_client_idle_ms: _('LAN TCP idle timeout (ms)'), tcp_fastopen: _('TCP Fast Open'),
	tls_resumption: _('TLS session resumption'), keep_warm: _('Keep sessions warm'), upstream_connections: _('Connections per upstream'),
	user_timeout_ms: _('Unacknowledged data timeout (ms)'), dtls_resume_after_s: _('DTLS resume after (s)'),
	dtls_probe_interval_s: _('DTLS probe interval (s)'), dtls_engine: _('DTLS engine'), dnsmasq: _('Use with dnsmasq'),
	force_dns: _('Force LAN DNS through the router'), control_socket: _('Control socket'), log_level: _('Log level'),
	name: _('Name'), address: _('Address'), port: _('Port'), auth_name: _('Authentication name'),
	transport: _('Transport'), spki: _('SPKI pins'), keepalive_idle_s: _('Keepalive idle (s)'),
	keepalive_interval_s: _('Keepalive interval (s)'), keepalive_count: _('Keepalive probes'), enabled: _('Enabled')
};

var callUciOrder = rpc.declare({ object: 'uci', method: 'order', params: [ 'config', 'sections' ] });

/*
 * What a Save writes. form.js AbstractValue.parse() removes a value equal to
 * this.default (rmempty is true unless set) and Flag.parse() writes a flag on
 * every save: left as they are, the first Save would delete every value the
 * shipped /etc/config/dprive spells out (profile 'strict', enabled '1' ...)
 * or write every default into it, and a delete in the same uci.save() as a
 * drag loses the drag (see stagingOrder). parse() ends in this.write() or
 * this.remove(); both come here, and a Save changes only what the user changed:
 *  - a field left as it was shown is not touched: an explicit value stays,
 *    an absent one stays absent (the daemon's default applies);
 *  - an emptied field (text or list) is removed: the default applies again;
 *  - anything else is written, even a value equal to the default.
 * `retain`: an option that is not on the page is never removed.
 */
function asList(value) {
	return (value == null) ? [] : (Array.isArray(value) ? value : [ value ]).map(String);
}

function changesOnlyWhatTheUserChanged(o) {
	var write = o.write, remove = o.remove;
	o.retain = true;
	o.write = function(sid, value) {
		var stored = this.cfgvalue(sid);
		if (JSON.stringify(asList(value)) == JSON.stringify(asList(stored != null ? stored : this['default'])))
			return;
		return write.call(this, sid, value);
	};
	o.remove = function(sid) {
		var value = this.formvalue(sid);
		if (asList(value).join('') === '')
			return remove.call(this, sid);
		return this.write(sid, value);
	};
}

/*
 * The upstream order. Every way to reorder a grid ends in this.map.data.move()
 * (form.js TableSection.handleDrop, handleTouchEnd, handleSort), and
 * uci.js move() only marks the config: the `uci order` call goes out from
 * reorderSections() at the next uci.save(), which SKIPS it when the same save
 * deletes anything in the config ("skip deletes within re-orders": the deleted
 * sections are still in its list, and rpcd's `uci order` saves nothing when
 * one name is unknown) and then forgets it. So a Save & Apply that empties a
 * field, a row's Delete or the Edit dialog's Save would drop the drag. Hence
 * the new order is staged at once and on its own, as LuCI stages an added or
 * deleted row at once (TypedSection.handleAdd/handleRemove save right away):
 * one `uci order` with the sections rpcd knows, as uci.sections() now orders
 * them. Sections created but not yet saved (uci.js createSID: 'new' and six
 * hex digits) are left out, rpcd would refuse the whole list for one unknown
 * name; the uci.save() that creates them also orders them.
 */
function stageOrder() {
	var sids = uci.sections('dprive').map(function(s) { return s['.name']; })
		.filter(function(sid) { return !/^new[0-9a-f]{6}$/.test(sid); });
	return callUciOrder('dprive', sids).then(function(rv) {
		if (rv !== 0)
			throw new Error(_('ubus status %d').format(rv));
	}).catch(function(e) {
		ui.addNotification(null, E('p', [ _('The new order of the upstreams was not saved: uci order: %s').format(e.message) ]), 'danger');
	});
}

/* map.data: uci itself (form.js CBIMap takes whatever `data` holds), with a move() that stages */
function stagingOrder(map) {
	var data = Object.create(uci), pending = null;
	data.move = function() {
		var moved = uci.move.apply(uci, arguments);
		if (moved && pending == null)
			pending = Promise.resolve().then(function() {   /* one call for a sort that moves every row */
				pending = null;
				return stageOrder();
			});
		return moved;
	};
	map.data = data;
	return map;
}

/* the schema's checks, for the ones LuCI's datatypes cannot say */
function isBase64Sha256(value) {
	if (!/^[A-Za-z0-9+/]{43}=$/.test(value))
		return false;
	try {
		return window.atob(value).length == 32;
	}
	catch (e) {
		return false;
	}
}

function datatypeOf(spec) {
	switch (spec.type) {
	case 'port': return 'and(port,min(1))';
	case 'int': return 'and(integer,range(%d,%d))'.format(spec.min, spec.max);
	case 'ip': return 'ipaddr';
	case 'hostname': return 'hostname';
	case 'string': return 'rangelength(%d,%d)'.format(spec.min || 0, spec.max || 255);
	case 'spki': return 'rangelength(44,44)';
	}
	return null;
}

function titleOf(name) {
	return TITLES[name] || name;
}

function addOption(section, name, spec) {
	var o, def = spec['default'], help = spec.help ? '%h'.format(spec.help) : null;
	switch (spec.type) {
	case 'bool':
		o = section.option(form.Flag, name, titleOf(name), help);
		o['default'] = def ? '1' : '0';
		break;
	case 'enum':
		o = section.option(form.ListValue, name, titleOf(name), help);
		spec.choices.forEach(function(c) { o.value(c); });
		o['default'] = def;
		break;
	default:
		if (spec.list) {
			o = section.option(form.DynamicList, name, titleOf(name), help);
			if (Array.isArray(def) && def.length)
				o['default'] = def.map(String);
		}
		else {
			o = section.option(form.Value, name, titleOf(name), help);
			if (def != null && def !== '')
				o.placeholder = o['default'] = String(def);
		}
		if (spec.type == 'spki') {
			o.placeholder = _('base64 SHA-256 (44 characters)');
			o.validate = function(sid, value) {
				return (value == '' || isBase64Sha256(value)) ? true : _('base64 of a 32-byte SHA-256 digest (44 characters)');
			};
		}
		else if (spec.type == 'ip') {
			o.validate = function(sid, value) {
				return (value.indexOf('/') < 0 && value.indexOf('%') < 0) ? true : _('an address without prefix length or scope id');
			};
		}
	}
	o.datatype = datatypeOf(spec);
	/* form.js parse(): an empty option that is not rmempty is refused ("must not be empty") */
	if (spec.required)
		o.rmempty = false;
	changesOnlyWhatTheUserChanged(o);
	return o;
}

return view.extend({
	load: function() {
		return uci.load('dprive');
	},

	handleAddPreset: function(map, select, ev) {
		var preset = PRESETS.filter(function(p) { return p.id == select.value; })[0];
		if (!preset)
			return Promise.resolve();
		/* after the form is parsed (current edits kept) and before the changes are
		   staged: the same path as LuCI's own "Add" (map.save), applied on Save & Apply */
		return map.save(function() {
			var sid = uci.add('dprive', schema.upstream.section);
			uci.set('dprive', sid, 'name', preset.name);
			uci.set('dprive', sid, 'address', preset.address);
			uci.set('dprive', sid, 'port', '853');
			uci.set('dprive', sid, 'auth_name', preset.auth_name);
			uci.set('dprive', sid, 'transport', 'tls');
		}, true);
	},

	render: function() {
		var m, s, self = this;

		m = stagingOrder(new form.Map('dprive', _('DNS Privacy'),
			_('dprive forwards the router\'s DNS queries to DNS-over-TLS resolvers.')));

		s = m.section(form.NamedSection, 'main', schema.main.section, _('General settings'));
		MAIN_FIELDS.forEach(function(name) {
			addOption(s, name, schema.main.options[name]);
		});

		s = m.section(form.NamedSection, 'main', schema.main.section, _('Advanced settings'));
		Object.keys(schema.main.options).forEach(function(name) {
			if (MAIN_FIELDS.indexOf(name) < 0)
				addOption(s, name, schema.main.options[name]);
		});

		/* form.js TableSection.renderHeaderRows() puts every description in a row of
		   its own under the titles unless `nodescriptions`; renderMoreOptionsModal()
		   shows each option with its description, so the help is in the Edit dialog.
		   The grid shows text (GridSection.renderTextValue) except GRID_EDITABLE. */
		s = m.section(form.GridSection, schema.upstream.section, _('Upstream resolvers'),
			_('Tried in this order; drag a row to change it. Edit shows every setting of an upstream with its help.'));
		s.anonymous = true;
		s.addremove = true;
		s.sortable = true;
		s.nodescriptions = true;
		s.addbtntitle = _('Add empty upstream');
		GRID_COLUMNS.concat(Object.keys(schema.upstream.options).filter(function(name) {
			return GRID_COLUMNS.indexOf(name) < 0;
		})).forEach(function(name) {
			var o = addOption(s, name, schema.upstream.options[name]);
			o.modalonly = (GRID_COLUMNS.indexOf(name) < 0) ? true : null;
			o.editable = GRID_EDITABLE.indexOf(name) >= 0;
		});

		var select = E('select', { 'class': 'cbi-input-select', 'id': 'dprive-preset' },
			PRESETS.map(function(p) {
				return E('option', { 'value': p.id }, [ '%s (%s, %s)'.format(p.name, p.address, p.auth_name) ]);
			}));

		return m.render().then(function(mapEl) {
			return E([], [
				mapEl,
				E('div', { 'class': 'cbi-section', 'id': 'dprive-presets' }, [
					E('h3', {}, [ _('Add a well-known resolver') ]),
					select, ' ',
					E('button', {
						'class': 'cbi-button cbi-button-add',
						'id': 'dprive-preset-add',
						'click': ui.createHandlerFn(self, 'handleAddPreset', m, select)
					}, [ _('Add preset') ])
				])
			]);
		});
	}
});
