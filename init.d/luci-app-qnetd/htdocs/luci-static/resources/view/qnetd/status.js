'use strict';
'require view';
'require rpc';
'require poll';
'require dom';

// The arbiter's state, refreshed with one ubus call (qnetd status) every few seconds, and
// what to run on a cluster to connect it. The answers are described in docs/openwrt.md.
// A string given as an element's only content is HTML in LuCI (one among other children is
// a text node): everything that comes from the daemon or the network (cluster names are what
// clients send) and is the only content goes through %h, which escapes it.

var callStatus = rpc.declare({
	object: 'qnetd',
	method: 'status',
	expect: { '': {} }
});

var callInterfaces = rpc.declare({
	object: 'network.interface',
	method: 'dump',
	expect: { 'interface': [] }
});

var VOTES = {
	ack: 'ACK',
	nack: 'NACK',
	ask_later: 'ASK LATER',
	wait_for_reply: 'WAIT FOR REPLY',
	no_change: 'NO CHANGE'
};

var POLL_SECONDS = 5;

// LuCI runs a poll function at once when it starts its polling loop, right after render:
// that first run would repeat the call load() just made, so a run that comes sooner than
// half an interval after the last call leaves the page as it is.
var lastCall = 0;

function callStatusNow() {
	lastCall = Date.now();
	return L.resolveDefault(callStatus(), { running: false, error: _('no answer from ubus object qnetd') });
}

// The vote as corosync-qnetd-tool shows it: the last one sent, and the ACK/NACK in force when
// the last one was "no change".
function voteText(n) {
	if (!n.vote)
		return '-';
	var text = '%h'.format(VOTES[n.vote] || n.vote);
	if (n.ack_nack_vote && n.ack_nack_vote != n.vote)
		text += ' (%h)'.format(VOTES[n.ack_nack_vote] || n.ack_nack_vote);
	return text;
}

// A cluster has its third vote when one of its nodes holds an ACK from us (as /health says).
function hasVote(cluster) {
	return (cluster.nodes || []).some(function(n) { return n.ack_nack_vote == 'ack'; });
}

function yesNo(v) {
	return v ? _('yes') : _('no');
}

function seconds(ms) {
	return '%.1f s'.format((ms || 0) / 1000);
}

// The router's addresses a cluster can reach: every IPv4 and global IPv6 address of the
// interfaces that are up, LAN first, WAN-like ones left out.
function lanAddresses(ifaces) {
	var out = [];
	(ifaces || []).filter(function(i) {
		return i.up && !/^(wan|loopback)/.test(i['interface']);
	}).sort(function(a, b) {
		return (a['interface'] == 'lan' ? 0 : 1) - (b['interface'] == 'lan' ? 0 : 1);
	}).forEach(function(i) {
		(i['ipv4-address'] || []).concat(i['ipv6-address'] || []).forEach(function(a) {
			if (a.address && !/^fe80:/i.test(a.address))
				out.push({ iface: i['interface'], address: a.address });
		});
	});
	return out;
}

function daemonTable(st) {
	var rows = [];
	if (!st.running) {
		rows.push([_('Running'), _('no')]);
		if (st.error)
			rows.push([_('Error'), '%h'.format(st.error)]);
	}
	else {
		rows.push([_('Running'), _('yes')]);
		rows.push([_('PID'), st.pid != null ? String(st.pid) : '?']);
		rows.push([_('Version'), '%h'.format(st.qnetd_version || '?')]);
		rows.push([_('Uptime'), st.uptime_s != null ? '%t'.format(st.uptime_s) : '?']);
		rows.push([_('Listening on'), _('%h port %d').format(st.listen_address || _('all addresses'), st.port)]);
		rows.push([_('TLS'), '%h, %s'.format(st.tls,
			st.client_cert_required ? _('client certificate required') : _('no client certificate required'))]);
		rows.push([_('Connected clients'), '%d / %s'.format(st.connected_clients,
			st.max_clients ? String(st.max_clients) : _('unlimited'))]);
	}
	return E('table', { 'class': 'table' }, rows.map(function(r) {
		return E('tr', { 'class': 'tr' }, [
			E('td', { 'class': 'td left', 'width': '33%' }, r[0]),
			E('td', { 'class': 'td left' }, r[1])
		]);
	}));
}

function clusterBlock(c) {
	var vote = hasVote(c);
	var table = E('table', { 'class': 'table' }, [
		E('tr', { 'class': 'tr table-titles' }, [
			E('th', { 'class': 'th' }, _('Node ID')),
			E('th', { 'class': 'th' }, _('Address')),
			E('th', { 'class': 'th' }, _('TLS')),
			E('th', { 'class': 'th' }, _('Certificate verified')),
			E('th', { 'class': 'th' }, _('Vote')),
			E('th', { 'class': 'th' }, _('Heartbeat'))
		])
	]);
	cbi_update_table(table, (c.nodes || []).map(function(n) {
		return [
			String(n.node_id),
			'%h'.format(n.address),
			yesNo(n.tls_active),
			yesNo(n.cert_verified),
			voteText(n),
			_('every %s, last message %s ago').format(seconds(n.heartbeat_interval_ms),
				seconds(n.ms_since_last_message))
		];
	}), E('em', _('No nodes connected')));
	return E('div', { 'class': 'cbi-section' }, [
		E('h3', _('Cluster %h').format(c.name)),
		E('p', {}, [
			E('span', { 'class': 'label ' + (vote ? 'success' : 'warning') },
				vote ? _('has its third vote') : _('has no third vote')),
			' ',
			// A string among other children is a text node in LuCI (HTML only when it is the
			// only child): no %h here, it would show its entities.
			_('Algorithm: %s, tie-breaker: %s').format(c.algorithm, c.tie_breaker)
		]),
		table
	]);
}

function clustersBlock(st) {
	if (!st.running)
		return E('p', {}, E('em', _('The arbiter is not running.')));
	if (!(st.clusters || []).length)
		return E('p', {}, E('em', _('No cluster is connected.')));
	return E('div', {}, st.clusters.map(clusterBlock));
}

function addClusterBlock(ifaces, st) {
	var addrs = lanAddresses(ifaces);
	var lines = addrs.length
		? addrs.map(function(a) {
			return E('li', {}, [
				E('code', 'pvecm qdevice setup %h'.format(a.address)),
				' (%s)'.format(a.iface)
			]);
		})
		: [E('li', {}, E('code', 'pvecm qdevice setup ROUTER-ADDRESS'))];
	var body = [
		E('p', _('Proxmox VE: run one of these lines on one node of the cluster (as root). pvecm logs in here over ssh as root, so the node needs ssh access to the router.')),
		E('ul', {}, lines)
	];
	if (st.running && st.port != 5403)
		body.push(E('p', { 'class': 'alert-message warning' },
			_('pvecm always connects to port 5403; this arbiter listens on port %d.').format(st.port)));
	body.push(E('p', _('Plain corosync: on the router run %s, copy the directory it names to each node, and run its enrol-node.sh there.')
		.format('<code>qnetd cert bundle --cluster CLUSTER-NAME</code>')));
	return E('div', { 'class': 'cbi-section' }, [E('h3', _('Add a cluster'))].concat(body));
}

return view.extend({
	load: function() {
		return Promise.all([
			callStatusNow(),
			L.resolveDefault(callInterfaces(), [])
		]);
	},

	render: function(data) {
		var st = data[0], ifaces = data[1];
		var daemon = E('div', {}, daemonTable(st));
		var clusters = E('div', {}, clustersBlock(st));
		var add = E('div', {}, addClusterBlock(ifaces, st));

		poll.add(function() {
			if (Date.now() - lastCall < POLL_SECONDS * 500)
				return Promise.resolve();
			return callStatusNow().then(function(s) {
				dom.content(daemon, daemonTable(s));
				dom.content(clusters, clustersBlock(s));
				dom.content(add, addClusterBlock(ifaces, s));
			});
		}, POLL_SECONDS);

		return E('div', {}, [
			E('h2', _('Quorum arbiter')),
			E('div', { 'class': 'cbi-map-descr' },
				_('qnetd gives two-node Proxmox VE and corosync clusters their third vote.')),
			E('div', { 'class': 'cbi-section' }, [E('h3', _('Daemon')), daemon]),
			clusters,
			add
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
