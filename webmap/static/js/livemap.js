/*
 * The live issue map on top of the folium-built Leaflet map: issues from the vector tiles
 * (/tiles/issues/{z}/{x}/{y}.pbf), coloured by status, with a legend, filters, "locate me" and a popup
 * per issue. The page embeds no issue data; everything arrives as the view moves.
 *
 * Text that people wrote (titles, names) only ever reaches the page through textContent.
 */
(function (root) {
    "use strict";

    var L = root.L;

    // Build an element; text goes in as text, never as HTML.
    function el(tag, attrs, text) {
        var node = document.createElement(tag);
        if (attrs) {
            for (var name in attrs) {
                if (Object.prototype.hasOwnProperty.call(attrs, name)) { node.setAttribute(name, attrs[name]); }
            }
        }
        if (text !== undefined && text !== null) { node.textContent = String(text); }
        return node;
    }

    function template(url, values) {
        return url.replace(/\{(\w+)\}/g, function (_, key) { return encodeURIComponent(values[key]); });
    }

    function init(map, cfg) {
        var labels = cfg.labels;
        var groups = cfg.statusGroups;
        var groupOfStatus = {};
        groups.forEach(function (g) { g.statuses.forEach(function (s) { groupOfStatus[s] = g; }); });
        var categoryNames = {};
        cfg.categories.forEach(function (c) { categoryNames[c.code] = c; });
        var gcj02 = cfg.crs === "gcj02";

        // Stored coordinates are WGS84; on a GCJ-02 basemap they are shifted only to be drawn.
        var proj = root.ChinaCRS.projection(cfg.crs), toDisplay = proj.toDisplay, toStored = proj.toStored;

        // ------------------------------------------------------------ filters

        var filters = {groups: {}, category: "", days: ""};
        groups.forEach(function (g) { filters.groups[g.key] = true; });

        function sinceDate(days) {
            // A calendar date (UTC), not a moment: every request of the day shares one URL and cache entry.
            var d = new Date(Date.now() - days * 86400000);
            return d.toISOString().slice(0, 10);
        }

        function chosenGroups() {
            return groups.filter(function (g) { return filters.groups[g.key]; });
        }

        // The filters as query parameters, shared by the tiles and the "issues in view" list.
        function filterQuery() {
            var query = [];
            var chosen = chosenGroups();
            if (chosen.length < groups.length) {
                var statuses = [];
                chosen.forEach(function (g) { statuses = statuses.concat(g.statuses); });
                query.push("status=" + encodeURIComponent(statuses.join(",")));
            }
            if (filters.category) { query.push("category=" + encodeURIComponent(filters.category)); }
            if (filters.days) { query.push("since=" + sinceDate(Number(filters.days))); }
            return query;
        }

        function tileUrl() {
            var query = filterQuery();
            if (gcj02) { query.push("crs=gcj02"); }
            return cfg.tiles + (query.length ? "?" + query.join("&") : "");
        }

        // ------------------------------------------------------------ the issue layer

        function clusterRadius(count) {
            return Math.min(22, 7 + 3 * Math.log(count) / Math.LN10 * 1.6);
        }

        function issueStyle(status) {
            var g = groupOfStatus[status];
            return {
                radius: 6, weight: 1.5, color: "#ffffff", opacity: 1,
                fill: true, fillColor: g ? g.color : "#666666", fillOpacity: 0.95
            };
        }

        var styles = {
            issues: function (props) { return issueStyle(props.status); },
            clusters: function (props) {
                if (props.count === 1 && props.status) { return issueStyle(props.status); }
                // Mostly open problems are drawn warm, mostly finished ones cool.
                var share = props.count ? props.open / props.count : 0;
                return {
                    radius: clusterRadius(props.count), weight: 2, opacity: 0.9,
                    color: share >= 0.5 ? "#9c2a1e" : "#2b6a3f",
                    fill: true, fillColor: share >= 0.5 ? "#e4572e" : "#4aa86b", fillOpacity: 0.55
                };
            }
        };

        // Above the community outlines (overlayPane, 400), below popups; it takes no pointer events itself
        // (see vectorgrid-leaflet19.js), so the outlines keep their name tooltips.
        var pane = map.createPane("issues");
        pane.style.zIndex = 450;
        pane.style.pointerEvents = "none";

        var serial = 0;
        var layer = L.vectorGrid.protobuf(tileUrl(), {
            pane: "issues",
            rendererFactory: L.canvas.tile,
            vectorTileLayerStyles: styles,
            interactive: false,
            maxNativeZoom: 22,
            // The features of each loaded tile are kept by id: popups and the tests look them up.
            getFeatureId: function (f) {
                var props = f.properties || (f.properties = {});
                // The "issues" layer carries the issue id as the feature id; the drawn point keeps this
                // same properties object, so a click finds the id there.
                if (f.id && props.id === undefined) { props.id = f.id; }
                if (props.id && (props.count === undefined || props.count === 1)) { return "i" + props.id; }
                serial += 1;
                return "c" + serial;
            },
            fetchOptions: {credentials: "same-origin"},
            attribution: ""
        });
        layer.addTo(map);

        var loading = 0;
        layer.on("loading", function () { loading = 1; });
        layer.on("load", function () { loading = 0; map.getContainer().setAttribute("data-issues-loaded", "1"); });

        // ------------------------------------------------------------ popups

        var relative = root.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(cfg.locale, {numeric: "auto"}) : null;

        function age(iso) {
            var then = Date.parse(iso);
            if (isNaN(then)) { return ""; }
            var seconds = (then - Date.now()) / 1000;
            var steps = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
            for (var i = 0; i < steps.length; i++) {
                if (Math.abs(seconds) >= steps[i][1] || steps[i][0] === "minute") {
                    var n = Math.round(seconds / steps[i][1]);
                    return relative ? relative.format(n, steps[i][0]) : new Date(then).toLocaleDateString(cfg.locale);
                }
            }
            return "";
        }

        // The server sends each category's name in the page's language.
        function categoryLabel(code) {
            var c = categoryNames[code];
            return c ? c.name || code : code || "";
        }

        function localTime(iso) {
            var then = Date.parse(iso);
            return isNaN(then) ? "" : new Date(then).toLocaleString(cfg.locale);
        }

        function statusLabel(status) {
            return cfg.statusLabels[status] || status || "";
        }

        function row(box, label, value, cls) {
            var line = el("div", {"class": "lm-row" + (cls ? " " + cls : "")});
            line.appendChild(el("span", {"class": "lm-key"}, label));
            var v = el("span", {"class": "lm-value"}, value);
            line.appendChild(v);
            box.appendChild(line);
            return v;
        }

        function openIssuePopup(id, props, latlng) {
            if (!/^\d+$/.test(String(id))) { return; }
            var box = el("div", {"class": "lm-popup", "data-issue-id": String(id)});
            var title = el("strong", {"class": "lm-title"}, labels.loading);
            box.appendChild(title);
            var status = row(box, labels.status, statusLabel(props.status), "lm-status");
            var category = row(box, labels.category, categoryLabel(props.category), "lm-category");
            var reported = row(box, labels.reported, "…", "lm-age");
            var supports = row(box, labels.supports, "…", "lm-supports");
            var link = el("a", {"class": "lm-link", href: template(cfg.issuePage, {id: id})}, labels.details);
            box.appendChild(link);
            L.popup({maxWidth: 280, autoPanPadding: [24, 24]}).setLatLng(latlng).setContent(box).openOn(map);

            fetch(template(cfg.issueApi, {id: id}), {headers: {Accept: "application/geo+json"}, credentials: "same-origin"})
                .then(function (resp) {
                    if (!resp.ok) { throw new Error("HTTP " + resp.status); }
                    return resp.json();
                })
                .then(function (feature) {
                    var p = feature.properties || {};
                    title.textContent = p.title || ("#" + id);
                    status.textContent = statusLabel(p.status);
                    category.textContent = categoryLabel(p.category);
                    reported.textContent = age(p.created_at);
                    if (p.created_at) { reported.setAttribute("title", localTime(p.created_at)); }
                    supports.textContent = String(p.supports_count || 0);
                    box.setAttribute("data-loaded", "1");
                })
                .catch(function () {
                    // The tile already said what and where: keep that and the link, say the rest is missing.
                    title.textContent = "#" + id;
                    reported.textContent = labels.unavailable;
                    supports.textContent = labels.unavailable;
                    box.setAttribute("data-loaded", "0");
                });
        }

        function openClusterPopup(props, latlng) {
            var box = el("div", {"class": "lm-popup lm-cluster"});
            box.appendChild(el("strong", {"class": "lm-title"}, labels.clusterCount.replace("{count}", props.count)));
            box.appendChild(el("div", {"class": "lm-row"}, labels.clusterOpen.replace("{open}", props.open)));
            var zoom = el("button", {type: "button", "class": "lm-zoom"}, labels.zoomIn);
            zoom.addEventListener("click", function () {
                map.closePopup();
                map.setView(latlng, Math.min(map.getZoom() + 2, map.getMaxZoom()));
            });
            box.appendChild(zoom);
            L.popup({maxWidth: 240}).setLatLng(latlng).setContent(box).openOn(map);
        }

        // A finger is less exact than a mouse pointer: touch gets a wider margin around each circle.
        var slack = L.Browser.mobile || L.Browser.touch ? 8 : 3;

        map.on("click", function (e) {
            if (!map.hasLayer(layer)) { return; }
            var hit = layer.featureAt(e.containerPoint, slack);
            if (!hit) { return; }
            var props = hit.properties;
            // The click also reached the outline below; its name tooltip would cover the popup.
            map.eachLayer(function (l) { if (l.closeTooltip && l.getTooltip && l.getTooltip()) { l.closeTooltip(); } });
            if (props.id && (props.count === undefined || props.count === 1)) {
                openIssuePopup(props.id, props, e.latlng);
            } else if (props.count) {
                openClusterPopup(props, e.latlng);
            }
        });

        // The pointer becomes a hand over an issue, as over any link.
        var hoverQueued = false, lastMove = null;
        map.on("mousemove", function (e) {
            lastMove = e;
            if (hoverQueued) { return; }
            hoverQueued = true;
            L.Util.requestAnimFrame(function () {
                hoverQueued = false;
                var over = map.hasLayer(layer) && layer.featureAt(lastMove.containerPoint, 0);
                L.DomUtil[over ? "addClass" : "removeClass"](map.getContainer(), "lm-over-issue");
            });
        });

        // ------------------------------------------------------------ controls

        var Legend = L.Control.extend({
            options: {position: "bottomright"},
            onAdd: function () {
                var box = el("div", {"class": "lm-legend leaflet-bar", role: "region", "aria-label": labels.legend});
                var details = el("details", {"class": "lm-fold"});
                if (root.innerWidth > 600) { details.setAttribute("open", ""); }
                details.appendChild(el("summary", null, labels.legend));
                var list = el("ul");
                groups.forEach(function (g) {
                    var item = el("li");
                    var swatch = el("span", {"class": "lm-swatch", "aria-hidden": "true"});
                    swatch.style.background = g.color;
                    item.appendChild(swatch);
                    item.appendChild(el("span", null, g.label));
                    list.appendChild(item);
                });
                var item = el("li");
                item.appendChild(el("span", {"class": "lm-swatch lm-swatch-cluster", "aria-hidden": "true"}));
                item.appendChild(el("span", null, labels.clusterLegend));
                list.appendChild(item);
                details.appendChild(list);
                box.appendChild(details);
                L.DomEvent.disableClickPropagation(box);
                return box;
            }
        });

        var Filters = L.Control.extend({
            options: {position: "topright"},
            onAdd: function () {
                var box = el("div", {"class": "lm-filters leaflet-bar"});
                var details = el("details", {"class": "lm-fold"});
                if (root.innerWidth > 600) { details.setAttribute("open", ""); }
                details.appendChild(el("summary", null, labels.filters));
                var form = el("form", {"class": "lm-form", "aria-label": labels.filters});

                var statusSet = el("fieldset");
                statusSet.appendChild(el("legend", null, labels.status));
                groups.forEach(function (g) {
                    var lab = el("label", {"class": "lm-check"});
                    var input = el("input", {type: "checkbox", name: "group", value: g.key, checked: ""});
                    lab.appendChild(input);
                    var swatch = el("span", {"class": "lm-swatch", "aria-hidden": "true"});
                    swatch.style.background = g.color;
                    lab.appendChild(swatch);
                    lab.appendChild(el("span", null, g.label));
                    statusSet.appendChild(lab);
                });
                form.appendChild(statusSet);

                var catLabel = el("label", {"class": "lm-field"});
                catLabel.appendChild(el("span", null, labels.category));
                var select = el("select", {name: "category"});
                select.appendChild(el("option", {value: ""}, labels.allCategories));
                cfg.categories.forEach(function (c) {
                    select.appendChild(el("option", {value: c.code}, categoryLabel(c.code)));
                });
                catLabel.appendChild(select);
                form.appendChild(catLabel);

                var timeLabel = el("label", {"class": "lm-field"});
                timeLabel.appendChild(el("span", null, labels.time));
                var when = el("select", {name: "days"});
                cfg.periods.forEach(function (p) { when.appendChild(el("option", {value: p.days}, p.label)); });
                timeLabel.appendChild(when);
                form.appendChild(timeLabel);

                form.addEventListener("change", function () {
                    Array.prototype.forEach.call(form.querySelectorAll("input[name=group]"), function (input) {
                        filters.groups[input.value] = input.checked;
                    });
                    filters.category = select.value;
                    filters.days = when.value;
                    applyFilters();
                });
                form.addEventListener("submit", function (e) { e.preventDefault(); });
                details.appendChild(form);
                box.appendChild(details);
                L.DomEvent.disableClickPropagation(box);
                L.DomEvent.disableScrollPropagation(box);
                return box;
            }
        });

        // ------------------------------------------------------------ the list of issues in view

        // The circles are drawn on a canvas, which a keyboard or a screen reader cannot reach: the same
        // issues as a list of links (newest first, from the issue API), refreshed as the view moves.
        var IssueList = L.Control.extend({
            options: {position: "topright"},
            onAdd: function () {
                var box = el("div", {"class": "lm-list leaflet-bar"});
                var details = el("details", {"class": "lm-fold"});
                details.appendChild(el("summary", null, labels.listTitle));
                this._status = el("p", {"class": "lm-list-note", role: "status", "aria-live": "polite"});
                this._items = el("ol", {"class": "lm-list-items"});
                details.appendChild(this._status);
                details.appendChild(this._items);
                box.appendChild(details);
                this._details = details;
                var self = this;
                details.addEventListener("toggle", function () { if (details.open) { self.refresh(); } });
                map.on("moveend", function () { if (details.open) { self.refresh(); } });
                L.DomEvent.disableClickPropagation(box);
                L.DomEvent.disableScrollPropagation(box);
                return box;
            },
            refresh: function () {
                var self = this, serialNow = (this._serial = (this._serial || 0) + 1);
                var b = map.getBounds();
                var sw = toStored(b.getSouthWest()), ne = toStored(b.getNorthEast());
                var clamp = function (v, lo, hi) { return Math.max(lo, Math.min(hi, v)); };
                var query = ["bbox=" + [clamp(sw.lon, -180, 180), clamp(sw.lat, -90, 90), clamp(ne.lon, -180, 180),
                                        clamp(ne.lat, -90, 90)].map(function (v) { return v.toFixed(6); }).join(","),
                             "limit=" + LIST_LIMIT].concat(filterQuery());
                if (!chosenGroups().length) { this.show([], false); return; }
                this._status.textContent = labels.loading;
                fetch(cfg.issueList + "?" + query.join("&"), {headers: {Accept: "application/geo+json"},
                                                             credentials: "same-origin"})
                    .then(function (resp) {
                        if (!resp.ok) { throw new Error("HTTP " + resp.status); }
                        return resp.json();
                    })
                    .then(function (data) {
                        if (serialNow === self._serial) { self.show(data.features || [], !!data.next_cursor); }
                    })
                    .catch(function () {
                        if (serialNow === self._serial) { self._status.textContent = labels.listFailed; }
                    });
            },
            show: function (features, more) {
                var items = this._items;
                while (items.firstChild) { items.removeChild(items.firstChild); }
                features.forEach(function (f) {
                    var p = f.properties || {};
                    var id = f.id !== undefined ? f.id : p.id;
                    if (!/^\d+$/.test(String(id))) { return; }
                    var li = el("li", {"data-issue-id": String(id)});
                    li.appendChild(el("a", {href: template(cfg.issuePage, {id: id})}, p.title || ("#" + id)));
                    li.appendChild(el("span", {"class": "lm-list-meta"},
                                      statusLabel(p.status) + " · " + categoryLabel(p.category)));
                    items.appendChild(li);
                });
                this._status.textContent = !features.length ? labels.listEmpty
                    : more ? labels.listMore.replace("{n}", String(features.length)) : "";
                map.getContainer().setAttribute("data-list-loaded", "1");
            }
        });
        var LIST_LIMIT = 20;

        function applyFilters() {
            if (issueList._details && issueList._details.open) { issueList.refresh(); }
            var any = groups.some(function (g) { return filters.groups[g.key]; });
            map.getContainer().removeAttribute("data-issues-loaded");
            if (!any) {
                // No status chosen: nothing to draw, and nothing to ask the server for.
                if (map.hasLayer(layer)) { map.removeLayer(layer); }
                map.getContainer().setAttribute("data-issues-loaded", "1");
                return;
            }
            layer.setUrl(tileUrl(), true);
            if (map.hasLayer(layer)) { layer.redraw(); } else { layer.addTo(map); }
        }

        // A short message in one place, read out by screen readers, gone after a while.
        var Notice = L.Control.extend({
            options: {position: "bottomleft"},
            onAdd: function () {
                this._box = el("div", {"class": "lm-notice", role: "status", "aria-live": "polite", hidden: ""});
                L.DomEvent.disableClickPropagation(this._box);
                return this._box;
            },
            say: function (text) {
                var box = this._box;
                box.textContent = text;
                box.removeAttribute("hidden");
                clearTimeout(this._timer);
                this._timer = setTimeout(function () { box.setAttribute("hidden", ""); }, 10000);
            }
        });
        var notice = new Notice();

        var here = null;
        var Locate = L.Control.extend({
            options: {position: "topleft"},
            onAdd: function () {
                var box = el("div", {"class": "leaflet-bar lm-locate"});
                var button = el("button", {type: "button", title: labels.locate, "aria-label": labels.locate});
                button.appendChild(el("span", {"aria-hidden": "true"}, "◎"));
                button.addEventListener("click", locate);
                box.appendChild(button);
                L.DomEvent.disableClickPropagation(box);
                return box;
            }
        });

        function locate() {
            if (!navigator.geolocation || root.isSecureContext === false) {
                notice.say(labels.locateUnsupported);
                return;
            }
            notice.say(labels.locating);
            navigator.geolocation.getCurrentPosition(function (pos) {
                // GPS speaks WGS84; the basemap may not.
                var at = toDisplay(pos.coords.latitude, pos.coords.longitude);
                map.setView(at, Math.max(map.getZoom(), 16));
                if (here) { map.removeLayer(here); }
                here = L.circleMarker(at, {radius: 8, color: "#1f6feb", weight: 3, fillColor: "#58a6ff", fillOpacity: 0.6,
                                           interactive: false}).addTo(map);
                notice.say(labels.located);
            }, function (err) {
                notice.say(err && err.code === 1 ? labels.locateDenied : labels.locateFailed);
            }, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
        }

        // Right click, or a long press on a phone: offer to report a problem at that place, in WGS84.
        map.on("contextmenu", function (e) {
            var stored = toStored(e.latlng);
            var box = el("div", {"class": "lm-popup lm-report"});
            var link = el("a", {"class": "lm-link", href: cfg.report + "?lat=" + stored.lat.toFixed(7) + "&lon=" + stored.lon.toFixed(7)},
                          labels.reportHere);
            box.appendChild(link);
            L.popup({maxWidth: 240}).setLatLng(e.latlng).setContent(box).openOn(map);
        });

        // Leaflet's own zoom buttons speak English; give them the page's words.
        if (map.zoomControl) {
            [[map.zoomControl._zoomInButton, labels.zoomIn], [map.zoomControl._zoomOutButton, labels.zoomOut]]
                .forEach(function (pair) {
                    if (pair[0]) { pair[0].title = pair[1]; pair[0].setAttribute("aria-label", pair[1]); }
                });
        }

        new Legend().addTo(map);
        new Filters().addTo(map);
        var issueList = new IssueList();
        issueList.addTo(map);
        new Locate().addTo(map);
        notice.addTo(map);

        // ------------------------------------------------------------ for tests and other scripts

        return {
            layer: layer,
            toDisplay: toDisplay,
            toStored: toStored,
            tileUrl: tileUrl,
            locate: locate,
            // What the loaded tiles of the current zoom draw: issue ids (numbers) and the total of the
            // cluster counts. Tiles of the previous zoom, kept on screen until the new ones arrive, do not
            // count: a click finds only what the current zoom's tiles hold.
            drawn: function () {
                var ids = {}, clustered = 0;
                if (!map.hasLayer(layer)) { return {issues: [], clustered: 0}; }
                for (var key in layer._vectorTiles) {
                    if (Number(key.split(":")[2]) !== layer._tileZoom) { continue; }
                    var feats = layer._vectorTiles[key]._features || {};
                    for (var fid in feats) {
                        var props = feats[fid].feature.properties || {};
                        if (fid.charAt(0) === "i") { ids[fid.slice(1)] = true; }
                        else { clustered += props.count || 0; }
                    }
                }
                return {issues: Object.keys(ids).map(Number).sort(function (a, b) { return a - b; }), clustered: clustered};
            },
            loading: function () { return loading; }
        };
    }

    root.LiveMap = {init: init};
})(window);
