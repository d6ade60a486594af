'use strict';
'require view';
'require rpc';
'require ui';
'require poll';
'require dom';

// Services > lanseal: the certificates (state, expiry, next renewal and why,
// the records to add once), the blocklists (each list's size, use and last
// load; a list at its names_max marked full), the DNS statistics and the
// runtime records. Every
// call goes to the ubus object `lanseal` (/usr/libexec/rpcd/lanseal), which asks
// the daemon's local API; an answer with an `error` is the API's refusal
// ({"error": code, "detail": sentence}) and is shown as such. Text from the API
// is always set as text (E() with a string child), never as HTML.

var callStatus = rpc.declare({ object: 'lanseal', method: 'status' });
var callDnsStats = rpc.declare({ object: 'lanseal', method: 'dns_stats' });
var callRecords = rpc.declare({ object: 'lanseal', method: 'records' });
var callCerts = rpc.declare({ object: 'lanseal', method: 'certs' });
var callCertSetup = rpc.declare({ object: 'lanseal', method: 'cert_setup', params: [ 'name' ] });
var callRenew = rpc.declare({ object: 'lanseal', method: 'renew', params: [ 'name' ] });
var callAddRecord = rpc.declare({ object: 'lanseal', method: 'add_record', params: [ 'zone', 'record' ] });
var callDeleteRecord = rpc.declare({ object: 'lanseal', method: 'delete_record', params: [ 'id' ] });
var callFlush = rpc.declare({ object: 'lanseal', method: 'flush', params: [ 'name' ] });

// Seconds between refreshes of the statistics and the certificates.
var REFRESH_SECONDS = 10;

function refused(answer) {
	return (answer == null || typeof answer !== 'object')
		? _('No answer from lanseal')
		: (answer.error != null ? (answer.detail || answer.error) : null);
}

// Runs `call`, then shows the API's refusal (or the RPC failure) if any;
// resolves to the answer, or null when refused.
function attempt(call) {
	return call.then(function(answer) {
		var why = refused(answer);
		if (why == null)
			return answer;
		ui.addNotification(null, E('p', {}, why), 'danger');
		return null;
	}, function(err) {
		ui.addNotification(null, E('p', {}, String(err && err.message || err)), 'danger');
		return null;
	});
}

function when(seconds) {
	if (seconds == null)
		return '-';
	return new Date(seconds * 1000).toLocaleString();
}

function duration(seconds) {
	var s = Math.max(0, Math.floor(seconds || 0));
	var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
	return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm';
}

function bytes(count) {
	var n = Number(count) || 0;
	if (n >= 1e6)
		return (n / 1e6).toFixed(1) + ' MB';
	if (n >= 1e3)
		return (n / 1e3).toFixed(1) + ' kB';
	return n + ' B';
}

function table(headers, rows, empty) {
	var head = E('tr', { 'class': 'tr table-titles' }, headers.map(function(title) {
		return E('th', { 'class': 'th' }, title);
	}));
	var body = rows.map(function(cells) {
		return E('tr', { 'class': 'tr' }, cells.map(function(cell) {
			return E('td', { 'class': 'td' }, cell);
		}));
	});
	if (!body.length)
		body = [ E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td', 'colspan': headers.length }, E('em', {}, empty))) ];
	return E('table', { 'class': 'table' }, [ head ].concat(body));
}

function section(title, content) {
	return E('div', { 'class': 'cbi-section' }, [ E('h3', {}, title) ].concat(content));
}

return view.extend({
	load: function() {
		return Promise.all([
			callStatus().catch(function(e) { return { error: 'rpc', detail: String(e) }; }),
			callCerts().catch(function() { return {}; }),
			callDnsStats().catch(function() { return {}; }),
			callRecords().catch(function() { return {}; })
		]);
	},

	renderStatus: function(status) {
		var why = refused(status);
		if (why != null)
			return E('div', { 'class': 'alert-message warning' }, [
				E('p', {}, _('lanseal does not answer: %s').format(why)),
				E('p', {}, _('Is it running (/etc/init.d/lanseal status), with a config api section?'))
			]);
		var clock = status.clock || {};
		return table([ _('Version'), _('Uptime'), _('Roles'), _('Config'), _('Clock') ], [[
			status.version || '-',
			duration(status.uptime_seconds),
			(status.roles || []).join(', '),
			(status.config && status.config.source) || '-',
			clock.plausible === false ? _('not set yet: no renewal decided') : _('plausible')
		]], '');
	},

	renderCerts: function(answer) {
		var certs = (answer && Array.isArray(answer.certs)) ? answer.certs : [];
		var rows = certs.map(L.bind(function(cert) {
			var renewal = when(cert.next_renewal);
			if (cert.next_renewal_reason)
				renewal += ' (' + cert.next_renewal_reason + ')';
			var state = [ E('strong', {}, cert.state || '-') ];
			if (cert.last_error)
				state.push(E('div', { 'class': 'cbi-value-description' }, cert.last_error));
			return [
				cert.name,
				(cert.domains || []).join(', '),
				E('div', {}, state),
				when(cert.not_after),
				renewal,
				E('div', {}, [
					E('button', {
						'class': 'cbi-button cbi-button-action',
						'click': ui.createHandlerFn(this, 'handleSetup', cert.name)
					}, _('Setup records')),
					' ',
					E('button', {
						'class': 'cbi-button cbi-button-apply',
						'click': ui.createHandlerFn(this, 'handleRenew', cert.name)
					}, _('Renew now'))
				])
			];
		}, this));
		return table([ _('Name'), _('Domains'), _('State'), _('Expires'), _('Next renewal'), '' ], rows,
			_('No certificate: add a config cert section to /etc/config/lanseal.'));
	},

	renderStats: function(stats) {
		if (!stats || !stats.queries)
			return E('p', {}, E('em', {}, _('No statistics (is the DNS role on?)')));
		var q = stats.queries, cache = stats.cache;
		var counters = [
			[ _('Queries received'), q.received ], [ _('Answered'), q.answered ],
			[ _('Forwarded'), q.forwarded ], [ _('Merged'), q.merged ],
			[ _('Served stale'), q.stale_served ], [ _('Dropped by the ACL'), q.acl_dropped ],
			[ _('Rate limited'), q.rate_limited ], [ _('Rebinding dropped'), q.rebind_dropped ],
			[ _('Malformed'), q.malformed ]
		];
		if (cache)
			counters.push([ _('Cache entries'), cache.entries ], [ _('Cache hits'), cache.hits ],
				[ _('Cache misses'), cache.misses ]);
		var upstreams = (stats.upstreams || []).map(function(u) {
			return [ u.address, String(u.answers), String(u.failures), String(u.latency_ms) ];
		});
		return E('div', {}, [
			table(counters.map(function(c) { return c[0]; }),
				[ counters.map(function(c) { return String(c[1] != null ? c[1] : 0); }) ], ''),
			table([ _('Upstream'), _('Answers'), _('Failures'), _('Latency (ms)') ], upstreams,
				_('No upstream (resolv_file empty or not there yet)')),
			E('button', {
				'class': 'cbi-button cbi-button-reset',
				'click': ui.createHandlerFn(this, 'handleFlush')
			}, _('Flush the cache'))
		]);
	},

	renderBlocklists: function(stats) {
		var lists = (stats && Array.isArray(stats.blocklists)) ? stats.blocklists : [];
		var rows = lists.map(function(list) {
			var names = [ String(list.names) ];
			if (list.over_limit > 0)
				names.push(' ', E('span', { 'class': 'label warning' },
					_('full: names_max %d, %d left out').format(list.names_max, list.over_limit)));
			var blocked = [ String(list.blocked) ];
			if (list.cname_blocked > 0)
				blocked.push(E('div', { 'class': 'cbi-value-description' }, _('%d by CNAME').format(list.cname_blocked)));
			return [
				E('div', {}, [ E('strong', {}, list.name),
					E('div', { 'class': 'cbi-value-description' },
						list.answer + (list.cname_inspection ? ' · ' + _('CNAME inspection') : '')) ]),
				E('div', {}, names),
				String(list.allowed),
				String(list.skipped_lines),
				bytes(list.memory_bytes),
				E('div', {}, blocked),
				when(list.loaded),
				String(list.load_failures)
			];
		});
		return table([ _('List'), _('Names'), _('Allowed'), _('Skipped lines'), _('Memory'), _('Blocked'),
			_('Last load'), _('Load failures') ], rows,
			_('No blocklist: add a config blocklist section to /etc/config/lanseal.'));
	},

	renderRecords: function(answer) {
		var records = (answer && Array.isArray(answer.records)) ? answer.records : [];
		var zones = (answer && Array.isArray(answer.zones)) ? answer.zones : [];
		var rows = records.map(L.bind(function(r) {
			return [
				r.zone,
				E('code', {}, r.record),
				r.source === 'runtime' ? _('runtime') : _('config file'),
				r.source === 'runtime'
					? E('button', {
						'class': 'cbi-button cbi-button-remove',
						'click': ui.createHandlerFn(this, 'handleDelete', r.id)
					}, _('Delete'))
					: ''
			];
		}, this));
		var zone = E('select', { 'class': 'cbi-input-select', 'id': 'lanseal-zone' }, zones.map(function(name) {
			return E('option', { 'value': name }, name);
		}));
		var record = E('input', {
			'class': 'cbi-input-text', 'id': 'lanseal-record', 'type': 'text',
			'placeholder': 'nas 300 A 192.168.1.10'
		});
		return E('div', {}, [
			table([ _('Zone'), _('Record'), _('Source'), '' ], rows, _('No records')),
			E('div', { 'class': 'cbi-value' }, [
				zone, ' ', record, ' ',
				E('button', {
					'class': 'cbi-button cbi-button-add',
					'click': ui.createHandlerFn(this, 'handleAdd', zone, record)
				}, _('Add'))
			]),
			E('p', { 'class': 'cbi-value-description' },
				_('A zone-file line, relative to the zone. Runtime records are kept across restarts; records of the config file are changed there.'))
		]);
	},

	refresh: function() {
		return Promise.all([
			callCerts().catch(function() { return {}; }),
			callDnsStats().catch(function() { return {}; }),
			callRecords().catch(function() { return {}; })
		]).then(L.bind(function(data) {
			this.replace('lanseal-certs', this.renderCerts(data[0]));
			this.replace('lanseal-blocklists', this.renderBlocklists(data[1]));
			this.replace('lanseal-stats', this.renderStats(data[1]));
			this.replace('lanseal-records', this.renderRecords(data[2]));
		}, this));
	},

	replace: function(id, content) {
		var node = document.getElementById(id);
		if (node)
			dom.content(node, content);
	},

	handleSetup: function(name) {
		return attempt(callCertSetup(name)).then(function(answer) {
			if (!answer)
				return;
			var rows = (answer.records || []).map(function(r) {
				return [ r.required ? _('required') : _('recommended'), E('code', {}, r.text) ];
			});
			ui.showModal(_('Records to add once for %s').format(name), [
				E('p', {}, _('Add these at your DNS provider; lanseal checks them before each order.')),
				table([ '', _('Record') ], rows, _('Nothing to add')),
				E('div', { 'class': 'right' }, E('button', { 'class': 'cbi-button', 'click': ui.hideModal }, _('Close')))
			]);
		});
	},

	handleRenew: function(name) {
		return attempt(callRenew(name)).then(L.bind(function(answer) {
			if (answer)
				ui.addNotification(null, E('p', {}, _('Renewal of %s requested').format(name)), 'info');
			return this.refresh();
		}, this));
	},

	handleAdd: function(zone, record) {
		var text = record.value.trim();
		if (!text)
			return Promise.resolve();
		return attempt(callAddRecord(zone.value, text)).then(L.bind(function(answer) {
			if (answer)
				record.value = '';
			return this.refresh();
		}, this));
	},

	handleDelete: function(id) {
		return attempt(callDeleteRecord(String(id))).then(L.bind(this.refresh, this));
	},

	handleFlush: function() {
		return attempt(callFlush()).then(L.bind(function(answer) {
			if (answer)
				ui.addNotification(null, E('p', {}, _('%d cache entries flushed').format(answer.flushed || 0)), 'info');
			return this.refresh();
		}, this));
	},

	render: function(data) {
		poll.add(L.bind(this.refresh, this), REFRESH_SECONDS);
		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('lanseal')),
			E('div', { 'class': 'cbi-map-descr' },
				_('LAN DNS with local zones and the router\'s own certificates. Settings are in /etc/config/lanseal.')),
			section(_('Status'), [ this.renderStatus(data[0]) ]),
			section(_('Certificates'), [ E('div', { 'id': 'lanseal-certs' }, this.renderCerts(data[1])) ]),
			section(_('Blocklists'), [ E('div', { 'id': 'lanseal-blocklists' }, this.renderBlocklists(data[2])) ]),
			section(_('DNS statistics'), [ E('div', { 'id': 'lanseal-stats' }, this.renderStats(data[2])) ]),
			section(_('Runtime records'), [ E('div', { 'id': 'lanseal-records' }, this.renderRecords(data[3])) ])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
