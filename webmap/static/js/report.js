/*
 * The report form's map: tap (or "use my location") to place a pin, drag it to adjust; the latitude and
 * longitude fields of the form follow the pin (always in WGS84, whatever the basemap draws), and open
 * issues of the chosen category near the pin are listed with a "me too" button before the form is sent.
 *
 * The form itself is a plain HTML form that works without this script; text people wrote (issue titles)
 * only ever reaches the page through textContent.
 */
(function (root) {
    "use strict";

    var L = root.L;

    function el(tag, attrs, text) {
        var node = document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
        if (text !== undefined && text !== null) { node.textContent = String(text); }
        return node;
    }

    function csrfToken() {
        var meta = document.querySelector('meta[name="csrf-token"]');
        return meta ? meta.getAttribute("content") : "";
    }

    function init(map, cfg) {
        var labels = cfg.labels;
        var form = document.getElementById(cfg.formId);
        var latInput = form.elements.lat, lonInput = form.elements.lon;
        var status = document.getElementById("map-status");
        var nearbyBox = document.getElementById("nearby");
        var marker = null;
        var nearbyRequest = 0;

        // Stored coordinates are WGS84; on a GCJ-02 basemap they are shifted only to be drawn.
        var proj = root.ChinaCRS.projection(cfg.crs), toDisplay = proj.toDisplay, toStored = proj.toStored;

        function say(text) { status.textContent = text; }

        var pinIcon = L.divIcon({
            className: "rp-pin",
            html: '<svg viewBox="0 0 24 36" width="30" height="45" aria-hidden="true">' +
                  '<path d="M12 0C5.4 0 0 5.4 0 12c0 9 12 24 12 24s12-15 12-24C24 5.4 18.6 0 12 0z"/>' +
                  '<circle cx="12" cy="12" r="4.5" fill="#fff"/></svg>',
            iconSize: [30, 45], iconAnchor: [15, 45]
        });

        // Put the pin at a stored (WGS84) place; fill the form's fields unless they are the source.
        function place(stored, fromFields) {
            var shown = toDisplay(stored.lat, stored.lon);
            if (!marker) {
                marker = L.marker(shown, {draggable: true, icon: pinIcon, keyboard: false}).addTo(map);
                marker.on("dragend", function () {
                    place(toStored(marker.getLatLng()));
                    say(labels.pinPlaced);
                });
            } else {
                marker.setLatLng(shown);
            }
            if (!fromFields) {
                latInput.value = stored.lat.toFixed(7);
                lonInput.value = stored.lon.toFixed(7);
            }
            checkNearby();
        }

        function fieldsPlace() {
            var lat = parseFloat(latInput.value), lon = parseFloat(lonInput.value);
            if (!isFinite(lat) || !isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) { return null; }
            return {lat: lat, lon: lon};
        }

        map.on("click", function (e) {
            place(toStored(e.latlng));
            // Zoomed out to the whole street a fingertip covers tens of metres: come closer to the pin.
            if (map.getZoom() < 16) { map.setView(e.latlng, 17); }
            say(labels.pinPlaced);
        });
        [latInput, lonInput].forEach(function (input) {
            input.addEventListener("change", function () {
                var stored = fieldsPlace();
                if (stored) {
                    place(stored, true);
                    map.panTo(toDisplay(stored.lat, stored.lon));
                }
            });
        });

        // ------------------------------------------------------------ use my location

        var locate = document.getElementById("use-location");
        locate.hidden = false;
        locate.addEventListener("click", function () {
            if (!navigator.geolocation) { say(labels.locateUnsupported); return; }
            say(labels.locating);
            navigator.geolocation.getCurrentPosition(function (pos) {
                // Devices report WGS84.
                var stored = {lat: pos.coords.latitude, lon: pos.coords.longitude};
                place(stored);
                map.setView(toDisplay(stored.lat, stored.lon), Math.max(map.getZoom(), 17));
                say(labels.located);
            }, function (err) {
                say(err && err.code === 1 ? labels.locateDenied : labels.locateFailed);
            }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
        });

        // ------------------------------------------------------------ community outlines

        fetch(cfg.areas, {headers: {"Accept": "application/geo+json"}, credentials: "same-origin"})
            .then(function (resp) { if (!resp.ok) { throw new Error("HTTP " + resp.status); } return resp.json(); })
            .then(function (data) {
                var layer = L.geoJSON(data, {
                    style: {color: "#8e2c22", weight: 2, fillOpacity: 0.04}, interactive: false
                }).addTo(map);
                if (!cfg.preselected && !marker && layer.getLayers().length) {
                    map.fitBounds(layer.getBounds(), {padding: [8, 8]});
                }
            })
            .catch(function (err) { console.warn("community outlines not loaded", err); });

        // ------------------------------------------------------------ nearby open issues of the category

        function chosenCategory() {
            var checked = form.querySelector('input[name="category"]:checked');
            return checked ? checked.value : "";
        }

        function meToo(button, count, id) {
            button.disabled = true;
            fetch(cfg.support.replace("{id}", encodeURIComponent(id)), {
                method: "POST", credentials: "same-origin",
                headers: {"X-CSRFToken": csrfToken(), "Accept": "application/json"}
            }).then(function (resp) {
                if (!resp.ok) { throw new Error("HTTP " + resp.status); }
                return resp.json();
            }).then(function (body) {
                count.textContent = String(body.supports_count);
                button.textContent = labels.meTooDone;
                button.classList.add("done");
            }).catch(function () {
                button.disabled = false;
                button.textContent = labels.meTooFailed;
            });
        }

        function showNearby(features) {
            nearbyBox.textContent = "";
            if (!features.length) { nearbyBox.hidden = true; return; }
            nearbyBox.appendChild(el("h3", null, labels.nearbyTitle));
            nearbyBox.appendChild(el("p", {"class": "hint"}, labels.nearbyHint));
            var list = el("ul", {"class": "rp-nearby-list"});
            features.forEach(function (f) {
                var p = f.properties;
                var item = el("li", {"class": "rp-nearby-item", "data-issue-id": String(p.id)});
                var link = el("a", {href: cfg.issuePage.replace("{id}", encodeURIComponent(p.id)), target: "_blank",
                                    rel: "noopener"}, p.title);
                item.appendChild(link);
                var meta = el("p", {"class": "rp-nearby-meta"});
                meta.appendChild(el("span", null, labels.metres.replace("{m}", Math.round(p.distance_m))));
                meta.appendChild(el("span", null, " · " + (cfg.statusLabels[p.status] || p.status) + " · " +
                                               labels.supports + " "));
                var count = el("span", {"class": "rp-supports"}, p.supports_count);
                meta.appendChild(count);
                item.appendChild(meta);
                var button = el("button", {type: "button", "class": "rp-button rp-metoo"}, labels.meToo);
                button.addEventListener("click", function () { meToo(button, count, p.id); });
                item.appendChild(button);
                list.appendChild(item);
            });
            nearbyBox.appendChild(list);
            nearbyBox.hidden = false;
        }

        function checkNearby() {
            var stored = fieldsPlace(), category = chosenCategory();
            if (!stored || !category) { return; }
            var ticket = ++nearbyRequest;
            var url = cfg.nearby + "?lat=" + stored.lat.toFixed(7) + "&lon=" + stored.lon.toFixed(7) +
                      "&category=" + encodeURIComponent(category);
            fetch(url, {headers: {"Accept": "application/geo+json"}, credentials: "same-origin"})
                .then(function (resp) { if (!resp.ok) { throw new Error("HTTP " + resp.status); } return resp.json(); })
                .then(function (data) { if (ticket === nearbyRequest) { showNearby(data.features || []); } })
                .catch(function (err) { console.warn("nearby issues not loaded", err); });
        }

        Array.prototype.forEach.call(form.querySelectorAll('input[name="category"]'), function (radio) {
            radio.addEventListener("change", checkNearby);
        });

        // ------------------------------------------------------------ sending

        var sent = false;
        form.addEventListener("submit", function (e) {
            // A second tap while the first is on its way would only replay it (same idempotency key).
            if (sent) { e.preventDefault(); return; }
            sent = true;
            var button = form.querySelector("button[type=submit]");
            button.setAttribute("aria-disabled", "true");
            button.textContent = labels.sending;
        });
        // Coming back with the browser's back button shows the page from its cache: allow sending again.
        root.addEventListener("pageshow", function () { sent = false; });

        if (cfg.preselected) {
            place(cfg.preselected, !!fieldsPlace());
        } else if (fieldsPlace()) {
            place(fieldsPlace(), true);
        }

        return {
            map: map, toDisplay: toDisplay, toStored: toStored,
            marker: function () { return marker; }, checkNearby: checkNearby
        };
    }

    root.ReportMap = {init: init};
})(window);
