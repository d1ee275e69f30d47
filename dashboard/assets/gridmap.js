/* Grid Map: the map's style functions, read by dash-leaflet through {"variable": "gridmap.<name>"}.
 * Colours, flags and classes are computed in Python (layers.colors, layers.buildings): a building feature carries
 * small codes (see layers/buildings.py: c = one class digit per theme, f = flag bits, m / e = mismatch and event
 * counts) and the layer's `hideout` carries the palettes once (and the chosen finding category's codes); these
 * functions only pick them according to the hideout (theme, category, filters, grid, selection), so restyling
 * never sends geometry again. Keep this file small: all logic that can be tested in Python lives there
 * (layers.buildings.fill_color is styleBuilding's fill rule). */
window.gridmap = Object.assign({}, window.gridmap, {
    _esc: function (s) {
        return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
        });
    },
    /* Whether a building has a flag: bit i of p.f is hideout.flags[i]. */
    _has: function (p, h, flag) {
        var bit = (h.flags || []).indexOf(flag);
        return bit >= 0 && ((p.f || 0) >> bit & 1) === 1;
    },
    /* True when the building passes the filters of the hideout: every `only` flag, and the grid. */
    _matches: function (p, h) {
        var only = h.only || [];
        for (var i = 0; i < only.length; i++) {
            if (!window.gridmap._has(p, h, only[i])) { return false; }
        }
        return !(h.grid !== null && h.grid !== undefined && p.g !== h.grid);
    },
    /* The fill of a building in a theme: its class digit indexes the theme's palette. */
    _fill: function (p, h, theme) {
        var code;
        if (theme === "findings" && h.category) {
            code = (h.categoryClasses || {})[p.id] || 0;
        } else {
            code = +String(p.c || "").charAt((h.themes || []).indexOf(theme));
        }
        return ((h.palettes || {})[theme] || [])[code] || "#9aa5b1";
    },
    styleBuilding: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var theme = h.theme || "status";
        var fill = window.gridmap._fill(p, h, theme);
        var selected = h.selected !== null && h.selected !== undefined && h.selected === p.id;
        var shown = window.gridmap._matches(p, h);
        var mismatch = theme === "status" && p.m > 0;
        var cls = "gm-building gm-building-" + p.id + (selected ? " gm-selected" : "") +
            (shown ? "" : " gm-dimmed") + (mismatch ? " gm-mismatch" : "");
        return {
            fillColor: shown ? fill : "#d9dee4", fillOpacity: shown ? 0.92 : 0.35,
            color: selected ? "#111827" : (mismatch && shown ? "#c81e1e" : "#ffffff"),
            weight: selected ? 3.5 : (mismatch && shown ? 2.5 : 1.2), opacity: shown ? 1 : 0.5, className: cls
        };
    },
    styleGrid: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var show = h.show !== false;
        return {
            fillColor: p.color || "#f1f3f5", fillOpacity: show ? 0.55 : 0, color: "#2f4b7c",
            weight: show ? 2 : 0, opacity: show ? 0.9 : 0, dashArray: "6 4", className: "gm-grid gm-grid-" + p.id
        };
    },
    styleOutline: function () {
        return {fill: true, fillColor: "#fbfaf6", fillOpacity: 1, color: "#8d99ae", weight: 2, className: "gm-outline"};
    },
    stylePath: function () {
        return {color: "#ffffff", weight: 6, opacity: 1, lineCap: "round", className: "gm-path"};
    },
    /* Building number plus a glyph row of every flag the building has (hideout.glyphs: flag → text, in order),
     * the open-mismatch count as a red badge. Shown from hideout.labelZoom on (CSS hides them below). */
    labelBuilding: function (feature, layer, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var esc = window.gridmap._esc;
        var glyphs = h.glyphs || [];
        var row = "";
        for (var i = 0; i < glyphs.length; i++) {
            var flag = glyphs[i][0];
            if (!window.gridmap._has(p, h, flag)) { continue; }
            var text = flag === "mismatches" ? p.m : (flag === "open_issues" ? p.e : glyphs[i][1]);
            row += '<i class="gm-g gm-g-' + esc(flag) + '" title="' + esc(glyphs[i][2] || "") + '">' + esc(text) + "</i>";
        }
        layer.bindTooltip('<span class="gm-bnum">' + esc(p.n) + "</span>" +
                          (row ? '<span class="gm-glyphs">' + row + "</span>" : ""), {
            permanent: true, direction: "center", className: "gm-building-label", opacity: 1, interactive: false
        });
        var minZoom = h.labelZoom || 17;
        layer.on("add", function () {
            var map = layer._map;
            if (!map || map._gridmapLabels) { return; }
            map._gridmapLabels = true;
            var update = function () {
                map.getContainer().classList.toggle("gm-zoom-close", map.getZoom() >= minZoom);
                map.getContainer().classList.toggle("gm-zoom-closer", map.getZoom() >= minZoom + 1);
            };
            map.on("zoomend", update);
            update();
        });
    },
    labelGrid: function (feature, layer) {
        var p = feature.properties || {};
        var text = p.name + (p.percent === null || p.percent === undefined ? "" : " " + p.percent + "%");
        layer.bindTooltip(text, {permanent: true, direction: "center", className: "gm-grid-label", opacity: 1,
                                 interactive: false});
    },
    /* Open events: a round marker coloured by category, sized by age, labelled with the age in days. */
    issueMarker: function (feature, latlng, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var esc = window.gridmap._esc;
        var size = p.size || 18;
        var age = p.age_days === null || p.age_days === undefined ? "?" : (p.age_days > 99 ? "99+" : p.age_days);
        var marker = L.marker(latlng, {
            icon: L.divIcon({
                className: "gm-issue gm-issue-" + p.id + " gm-issue-cat-" + esc(p.category),
                html: '<span style="background:' + esc(p.color) + ";width:" + size + "px;height:" + size +
                      "px;line-height:" + size + 'px">' + esc(age) + "</span>",
                iconSize: [size, size], iconAnchor: [size / 2, size / 2]
            }),
            keyboard: false
        });
        var label = (h.categories && h.categories[p.category]) || p.category;
        marker.bindTooltip(esc(label) + " · " + esc(p.age_days) + (h.dayUnit || "d"), {direction: "top"});
        return marker;
    },
    styleCommunity: function (feature, context) {
        var h = (context && context.hideout) || {};
        var p = feature.properties || {};
        var selected = h.selected === p.id;
        return {
            fillColor: p.color || "#f1f3f5", fillOpacity: 0.8, color: selected ? "#111827" : "#2f4b7c",
            weight: selected ? 3 : 1.5, opacity: 1, className: "gm-community gm-community-" + p.id
        };
    },
    labelCommunity: function (feature, layer) {
        var p = feature.properties || {};
        var esc = window.gridmap._esc;
        var text = '<b>' + esc(p.name) + "</b>" +
            (p.percent === null || p.percent === undefined ? "" : "<br>" + esc(p.percent) + "%");
        layer.bindTooltip(text, {permanent: true, direction: "center", className: "gm-community-label",
                                 opacity: 1, interactive: false});
    }
});
