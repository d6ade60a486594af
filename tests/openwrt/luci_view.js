// Runs luci-app-lanseal's view (overview.js) outside a browser, for
// tests/openwrt.rs: FAKE stand-ins for LuCI's view, rpc, ui, poll, dom, E(), _()
// and L, just enough for this view. The one real part is the transport:
// every rpc call runs the real rpcd plugin (`dash lanseal.rpcd call METHOD`,
// the arguments as JSON on stdin), which asks the live daemon through
// `lanseal api`, as rpcd would.
//
//   node luci_view.js VIEW PLUGIN DNS_PORT
//
// Renders the page, adds a runtime record through its form, deletes it with
// its button, and prints one JSON object: the page's text at each step, what
// dig answered after the add and after the delete, and the notifications.
'use strict';

const fs = require('fs');
const { execFileSync } = require('child_process');

const [viewPath, pluginPath, dnsPort] = process.argv.slice(2);

function Node(tag, attrs, children) {
	this.tag = tag;
	this.attrs = attrs || {};
	this.children = [];
	this.value = this.attrs.value || '';
	this.append(children);
}
Node.prototype.append = function(children) {
	if (children == null)
		return;
	for (const child of Array.isArray(children) ? children : [ children ])
		if (child != null && child !== '')
			this.children.push(child);
};
Node.prototype.text = function() {
	return this.children.map(c => c instanceof Node ? c.text() : String(c)).join(' ');
};
Node.prototype.find = function(test) {
	if (test(this))
		return this;
	for (const c of this.children)
		if (c instanceof Node) {
			const found = c.find(test);
			if (found)
				return found;
		}
	return null;
};

function E(tag, attrs, children) {
	if (Array.isArray(attrs) || typeof attrs === 'string' || attrs instanceof Node)
		return new Node(tag, {}, attrs);
	return new Node(tag, attrs, children);
}

String.prototype.format = function() {
	const args = Array.from(arguments);
	return this.replace(/%[sd]/g, () => String(args.shift()));
};

let page = null;
const notifications = [];
const document = {
	getElementById: id => page && page.find(n => n.attrs.id === id)
};
const L = { bind: (fn, self) => fn.bind(self) };
const view = { extend: object => object };
const poll = { add: () => {} };
const dom = { content: (node, content) => { node.children = []; node.append(content); } };
const ui = {
	addNotification: (title, content, kind) => notifications.push(kind + ': ' + content.text()),
	createHandlerFn: (self, name, ...args) => event => self[name](...args, event),
	showModal: (title, content) => notifications.push('modal: ' + title),
	hideModal: () => {}
};
const rpc = {
	declare: spec => function() {
		const message = {};
		(spec.params || []).forEach((name, i) => {
			if (arguments[i] !== undefined)
				message[name] = arguments[i];
		});
		const answer = execFileSync('dash', [ pluginPath, 'call', spec.method ], {
			input: JSON.stringify(message)
		});
		return Promise.resolve(JSON.parse(answer));
	}
};

function dig(name) {
	return execFileSync('dig', [ '@127.0.0.1', '-p', dnsPort, '+short', '+time=3', '+tries=1', name ]).toString().trim();
}

function button(label) {
	const found = page.find(n => n.tag === 'button' && n.text() === label);
	if (!found)
		throw new Error('no button ' + label + ' in: ' + page.text());
	return found;
}

(async () => {
	const source = fs.readFileSync(viewPath, 'utf8');
	const overview = new Function('view', 'rpc', 'ui', 'poll', 'dom', 'E', '_', 'L', 'document', source)(
		view, rpc, ui, poll, dom, E, s => s, L, document);
	page = overview.render(await overview.load());
	const rendered = page.text();

	page.find(n => n.attrs.id === 'lanseal-zone').value = 'home.example.com';
	page.find(n => n.attrs.id === 'lanseal-record').value = ' nas 300 A 192.168.1.10 ';
	await button('Add').attrs.click({});
	const added = page.text();
	const answerAfterAdd = dig('nas.home.example.com');

	await button('Delete').attrs.click({});
	const deleted = page.text();
	const answerAfterDelete = dig('nas.home.example.com');

	await button('Flush the cache').attrs.click({});
	process.stdout.write(JSON.stringify({
		rendered, added, answerAfterAdd, deleted, answerAfterDelete, notifications
	}));
})().catch(e => {
	process.stderr.write(String(e && e.stack || e) + '\n');
	process.exit(1);
});
