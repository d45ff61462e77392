'use strict';
'require view';
'require rpc';
'require poll';
'require ui';

/*
 * dprive status: the daemon's own status over its ubus object, polled every
 * 5 s. Every string from the daemon is put into the page as text (wrapped in
 * an array for E()), never as HTML. When the call fails (daemon stopped, or
 * restarting) the page says "dprive is not running" and recovers on a later poll.
 */

var callStatus = rpc.declare({ object: 'dprive', method: 'status', expect: { '': {} } });
var callReconnect = rpc.declare({ object: 'dprive', method: 'reconnect', params: [ 'name' ], expect: { '': {} } });

var POLL_S = 5;
var HISTORY = 36;          /* 3 minutes of polls */
var COLORS = [ '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b' ];
var SVGNS = 'http://www.w3.org/2000/svg';

function num(v, fmt) {
	return (typeof v == 'number' && isFinite(v)) ? (fmt || '%d').format(v) : '-';
}

function svg(tag, attrs) {
	var el = document.createElementNS(SVGNS, tag);
	for (var k in attrs)
		el.setAttribute(k, attrs[k]);
	return el;
}

return view.extend({
	history: {},

	load: function() {
		return L.resolveDefault(callStatus(), null);
	},

	handleReconnect: function(name, ev) {
		return L.resolveDefault(callReconnect(name), null).then(L.bind(function(reply) {
			if (reply && reply.ok)
				ui.addNotification(null, E('p', [ name ? _('Reconnecting %s.').format(name) : _('Reconnecting every upstream.') ]), 'info');
			else
				ui.addNotification(null, E('p', [ _('Reconnect failed: %s').format(reply && reply.error ? reply.error : _('dprive is not running')) ]), 'error');
			return this.refresh();
		}, this));
	},

	record: function(st) {
		var seen = {};
		(st.upstreams || []).forEach(L.bind(function(up) {
			var name = String(up.name);
			var h = this.history[name] = this.history[name] || [];
			h.push(typeof up.srtt_ms == 'number' ? up.srtt_ms : null);
			if (h.length > HISTORY)
				h.shift();
			seen[name] = true;
		}, this));
		for (var name in this.history)
			if (!seen[name])
				delete this.history[name];
	},

	renderChart: function() {
		var W = 600, H = 120, P = 4;
		var names = Object.keys(this.history), max = 1;
		names.forEach(L.bind(function(n) {
			this.history[n].forEach(function(v) { if (v != null && v > max) max = v; });
		}, this));
		var root = svg('svg', { 'width': W, 'height': H + 16, 'viewBox': '0 0 %d %d'.format(W, H + 16), 'class': 'dprive-chart', 'role': 'img' });
		root.appendChild(svg('rect', { 'x': 0, 'y': 0, 'width': W, 'height': H, 'fill': 'none', 'stroke': '#ccc' }));
		names.forEach(L.bind(function(n, i) {
			var pts = [], h = this.history[n];
			h.forEach(function(v, j) {
				if (v != null)
					pts.push('%.1f,%.1f'.format(P + j * (W - 2 * P) / Math.max(HISTORY - 1, 1), H - P - v / max * (H - 2 * P)));
			});
			var line = svg('polyline', { 'points': pts.join(' '), 'fill': 'none', 'stroke': COLORS[i % COLORS.length], 'stroke-width': 2, 'data-upstream': n });
			root.appendChild(line);
			var label = svg('text', { 'x': P + i * 150, 'y': H + 13, 'fill': COLORS[i % COLORS.length], 'font-size': 12 });
			label.textContent = n;
			root.appendChild(label);
		}, this));
		var top = svg('text', { 'x': W - P, 'y': 14, 'text-anchor': 'end', 'font-size': 11, 'fill': '#666' });
		top.textContent = _('%s ms').format(num(max, '%.1f'));
		root.appendChild(top);
		return E('div', { 'class': 'cbi-section', 'id': 'dprive-chart' }, [
			E('h3', {}, [ _('Smoothed RTT over the last polls') ]), root
		]);
	},

	renderRecoveries: function(list) {
		list = Array.isArray(list) ? list.slice(-3) : [];
		if (!list.length)
			return [ '-' ];
		return list.map(function(r) {
			var text = L.isObject(r)
				? [ String(r.cause || '?'),
					r.handshake_ms != null ? _('handshake %s ms').format(r.handshake_ms) : null,
					r.tfo ? _('TFO') : null, r.resumed ? _('resumed') : null,
					r.query_rtts != null ? _('first query: %s extra round trips').format(r.query_rtts) : null ]
					.filter(function(x) { return x != null; }).join(', ')
				: String(r);
			return E('div', { 'class': 'dprive-recovery' }, [ text ]);
		});
	},

	renderBody: function(st) {
		if (!L.isObject(st) || !Array.isArray(st.upstreams))
			return E('div', { 'class': 'alert-message warning', 'id': 'dprive-not-running' }, [
				E('strong', {}, [ _('dprive is not running') ]), ' ',
				_('The daemon does not answer; this page shows its status again as soon as it does.')
			]);

		this.record(st);
		var cols = [ _('Upstream'), _('State'), _('Transport'), _('SRTT'), _('Queries'), _('Failures'),
			_('Connects'), _('TFO used'), _('Resumptions'), _('Probes'), _('Last recoveries'), '' ];
		var rows = st.upstreams.map(L.bind(function(up) {
			var name = String(up.name == null ? '' : up.name);
			return E('tr', { 'class': 'tr dprive-upstream', 'data-name': name }, [
				E('td', { 'class': 'td', 'data-col': 'name' }, [ name ]),
				E('td', { 'class': 'td', 'data-col': 'state' }, [ String(up.state || '-') ]),
				E('td', { 'class': 'td', 'data-col': 'transport' }, [ String(up.transport || '-') ]),
				E('td', { 'class': 'td', 'data-col': 'srtt' }, [ typeof up.srtt_ms == 'number' ? _('%s ms').format(num(up.srtt_ms, '%.1f')) : '-' ]),
				E('td', { 'class': 'td', 'data-col': 'queries' }, [ num(up.queries) ]),
				E('td', { 'class': 'td', 'data-col': 'failures' }, [ num(up.failures) ]),
				E('td', { 'class': 'td', 'data-col': 'connects' }, [ num(up.connects) ]),
				E('td', { 'class': 'td', 'data-col': 'tfo' }, [ num(up.tfo_used) ]),
				E('td', { 'class': 'td', 'data-col': 'resumptions' }, [ num(up.resumptions_accepted) ]),
				E('td', { 'class': 'td', 'data-col': 'probes' }, [ num(up.probes_sent) ]),
				E('td', { 'class': 'td', 'data-col': 'recoveries' }, this.renderRecoveries(up.recoveries)),
				E('td', { 'class': 'td' }, [
					E('button', { 'class': 'cbi-button cbi-button-action dprive-reconnect',
						'click': ui.createHandlerFn(this, 'handleReconnect', name) }, [ _('Reconnect') ])
				])
			]);
		}, this));

		var c = L.isObject(st.counters) ? st.counters : {};
		return E('div', { 'id': 'dprive-running' }, [
			E('div', { 'class': 'cbi-section' }, [
				E('p', { 'id': 'dprive-summary' }, [
					_('dprive %s, running for %s, profile %s; %s queries, %s answers, %s SERVFAIL.').format(
						String(st.version || '?'), '%t'.format(st.uptime_s || 0), String(st.profile || '?'),
						num(c.queries), num(c.answers), num(c.servfail))
				])
			]),
			E('table', { 'class': 'table', 'id': 'dprive-upstreams' }, [
				E('tr', { 'class': 'tr table-titles' }, cols.map(function(t) { return E('th', { 'class': 'th' }, [ t ]); }))
			].concat(rows)),
			E('div', { 'class': 'cbi-page-actions' }, [
				E('button', { 'class': 'cbi-button cbi-button-action', 'id': 'dprive-reconnect-all',
					'click': ui.createHandlerFn(this, 'handleReconnect', '') }, [ _('Reconnect all') ])
			]),
			this.renderChart()
		]);
	},

	refresh: function() {
		return L.resolveDefault(callStatus(), null).then(L.bind(function(st) {
			var box = document.getElementById('dprive-status');
			if (box)
				box.replaceChildren(this.renderBody(st));
		}, this));
	},

	render: function(st) {
		var box = E('div', { 'id': 'dprive-status' }, [ this.renderBody(st) ]);
		poll.add(L.bind(this.refresh, this), POLL_S);
		return E([], [ E('h2', {}, [ _('DNS Privacy: status') ]), box ]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
