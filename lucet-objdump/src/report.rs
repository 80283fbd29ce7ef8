//! Renders a module file as text.

use std::fmt::Write;

use lucet_module::{
    ConstExpr, ConstOp, ElemSegmentKind, ExportKind, GuestName, Handler, ModuleFile,
    FORMAT_VERSION, WASM_PAGE_SIZE,
};

fn size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, unit) in UNITS {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

fn expr(e: &ConstExpr) -> String {
    e.0.iter()
        .map(|op| match op {
            ConstOp::I32Const(v) => format!("i32.const {v}"),
            ConstOp::I64Const(v) => format!("i64.const {v}"),
            ConstOp::F32Const(v) => format!("f32.const {}", f32::from_bits(*v)),
            ConstOp::F64Const(v) => format!("f64.const {}", f64::from_bits(*v)),
            ConstOp::V128Const(v) => format!("v128.const {v:#034x}"),
            ConstOp::GlobalGet(g) => format!("global.get {g}"),
            ConstOp::RefNull(t) => format!("ref.null {t}"),
            ConstOp::RefFunc(f) => format!("ref.func {f}"),
            ConstOp::RefI31 => "ref.i31".to_string(),
            other => format!("{other:?}").to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The report for `file`, named `path`.
pub fn render(path: &str, file: &ModuleFile<'_>) -> String {
    let d = &file.data;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "module:         {path}");
    let _ = writeln!(w, "format version: {FORMAT_VERSION}");
    if let Some(name) = &d.name {
        let _ = writeln!(w, "name:           {}", GuestName(name));
    }
    let _ = writeln!(w, "content hash:   {}", file.seal.hash);
    let signed = match &file.seal.signature {
        Some(_) => "yes (minisign; lucet-wasi --verify KEY checks it)",
        None => "no",
    };
    let _ = writeln!(w, "signed:         {signed}");
    let _ = writeln!(w, "architecture:   {}", d.arch);
    let _ = writeln!(w, "code size:      {} bytes", file.text.len());
    let _ = writeln!(w, "cpu features:   {}", d.cpu_features.join(" "));
    let _ = writeln!(
        w,
        "interruptible:  {}",
        if d.interruptible {
            "yes"
        } else {
            "no (compiled without interruption checks)"
        }
    );
    let _ = writeln!(
        w,
        "fuel:           {}",
        if d.counts_instructions {
            "counted (compiled with --count-instructions)"
        } else {
            "not counted"
        }
    );

    let _ = writeln!(w, "\nmemories: {}", d.memories.len());
    for (i, m) in d.memories.iter().enumerate() {
        let h = &m.heap;
        let max = h
            .max_pages
            .map_or("none".to_string(), |p| format!("{p} pages"));
        let address = if m.memory64 { "64-bit" } else { "32-bit" };
        let _ = writeln!(
            w,
            "  [{i}] {address}, initial {} pages ({}), maximum {max}",
            h.initial_pages,
            size(h.initial_pages * WASM_PAGE_SIZE)
        );
        let _ = writeln!(
            w,
            "      reserved {}, guard {}, bounds checks: {}",
            size(h.reserved_size),
            size(h.guard_size),
            if m.bounds_checked {
                "explicit"
            } else {
                "none (guard pages)"
            }
        );
        if let Some(imp) = &m.import {
            let _ = writeln!(w, "      imported from {imp}");
        }
    }

    let _ = writeln!(
        w,
        "\nmemory image: {} chunk(s), {} stored",
        d.image.chunks.len(),
        size(d.image.stored_bytes())
    );
    for c in &d.image.chunks {
        let _ = writeln!(
            w,
            "  heap {:#010x}..{:#010x} ({} pages)",
            c.heap_offset,
            c.heap_offset + c.len,
            c.len / 4096
        );
    }
    let runtime_segments = d.data_segments.iter().filter(|s| !s.in_image).count();
    let _ = writeln!(
        w,
        "data segments: {} ({} in the image, {runtime_segments} applied or kept at runtime)",
        d.data_segments.len(),
        d.data_segments.len() - runtime_segments
    );

    let _ = writeln!(w, "\nglobals: {}", d.globals.len());
    for (i, g) in d.globals.iter().enumerate() {
        let m = if g.mutable { "mut " } else { "" };
        match (&g.import, &g.init) {
            (Some(imp), _) => {
                let _ = writeln!(w, "  [{i}] {m}{} imported from {imp}", g.ty);
            }
            (None, Some(init)) => {
                let _ = writeln!(w, "  [{i}] {m}{} = {}", g.ty, expr(init));
            }
            (None, None) => {}
        }
    }

    let _ = writeln!(w, "\ntables: {}", d.tables.len());
    for (i, t) in d.tables.iter().enumerate() {
        let max = t.max.map_or("none".to_string(), |m| m.to_string());
        let imp = t
            .import
            .as_ref()
            .map_or(String::new(), |i| format!(", imported from {i}"));
        let address = if t.table64 { "64-bit, " } else { "" };
        let init = t
            .init
            .as_ref()
            .map_or(String::new(), |e| format!(", elements {}", expr(e)));
        let _ = writeln!(
            w,
            "  [{i}] {}{address} min {} max {max}{init}{imp}",
            t.elem, t.min
        );
    }
    let _ = writeln!(
        w,
        "function references: {} (functions a table, export or ref.func can name; {} bytes of records per instance)",
        d.funcref_slots.len(),
        d.funcref_slots.len() * lucet_module::FuncRef::SIZE as usize
    );
    let _ = writeln!(w, "element segments: {}", d.elements.len());
    for (i, e) in d.elements.iter().enumerate() {
        let kind = match &e.kind {
            ElemSegmentKind::Active { table, offset } => {
                format!("active, table {table} at {}", expr(offset))
            }
            ElemSegmentKind::Passive => "passive".to_string(),
            ElemSegmentKind::Declared => "declared".to_string(),
        };
        let _ = writeln!(w, "  [{i}] {kind}, {} item(s)", e.items.len());
    }

    let _ = writeln!(
        w,
        "\ntypes: {} in {} recursive group(s)",
        d.types.len(),
        d.rec_groups.len()
    );
    for (first, count) in d.rec_group_ranges() {
        let indent = if count > 1 {
            let _ = writeln!(w, "  rec group of {count}:");
            "    "
        } else {
            "  "
        };
        for i in first..first.saturating_add(count) {
            if let Some(t) = d.types.get(i as usize) {
                let _ = writeln!(w, "{indent}[{i}] {t}");
            }
        }
    }

    let _ = writeln!(w, "\ntags: {}", d.tags.len());
    for (i, t) in d.tags.iter().enumerate() {
        let imp = t
            .import
            .as_ref()
            .map_or(String::new(), |i| format!(", imported from {i}"));
        let _ = writeln!(w, "  [{i}] {}{imp}", d.types[t.type_index as usize]);
    }

    if let Some(abi) = &d.component {
        let _ = writeln!(w, "\ncomponent: compiled from a WebAssembly component");
        let _ = writeln!(w, "  exports:");
        for l in &abi.lifts {
            let _ = writeln!(
                w,
                "    {}: {}",
                GuestName(&l.export),
                GuestName(&l.signature.to_wit(&abi.resources))
            );
        }
        let _ = writeln!(w, "  imports: {}", abi.lowers.len());
        for l in &abi.lowers {
            let what = match l.kind {
                lucet_component::LowerKind::Call => l.signature.to_wit(&abi.resources),
                lucet_component::LowerKind::ResourceDrop { .. } => "drops a handle".into(),
            };
            let _ = writeln!(
                w,
                "    {} {}: {}",
                GuestName(&l.module),
                GuestName(&l.name),
                GuestName(&what)
            );
        }
    }

    let _ = writeln!(w, "\nimports:");
    for (f, imp) in d.functions.iter().zip(&d.function_imports) {
        let _ = writeln!(w, "  func {imp}: {}", d.types[f.type_index as usize]);
    }
    for g in d.globals.iter().filter_map(|g| g.import.as_ref()) {
        let _ = writeln!(w, "  global {g}");
    }

    let _ = writeln!(w, "\nexports:");
    for e in &d.exports {
        let what = match e.kind {
            ExportKind::Func(i) => format!(
                "func [{i}] {}",
                d.func_type(i).map(|t| t.to_string()).unwrap_or_default()
            ),
            ExportKind::Table(i) => format!("table [{i}]"),
            ExportKind::Memory(i) => format!("memory [{i}]"),
            ExportKind::Global(i) => format!("global [{i}]"),
            ExportKind::Tag(i) => format!("tag [{i}]"),
        };
        let _ = writeln!(w, "  {}: {what}", GuestName(&e.name));
    }
    if let Some(s) = d.start {
        let _ = writeln!(
            w,
            "start function: [{s}] {}",
            d.display_name(s, &file.names)
        );
    }

    let _ = writeln!(w, "\nfunctions: {}", d.functions.len());
    for (i, f) in d.functions.iter().enumerate() {
        let kind = if d.import_of(i as u32).is_some() {
            " (import stub)"
        } else {
            ""
        };
        let _ = writeln!(
            w,
            "  [{i}] {} at {:#08x}, {} bytes, {}{kind}",
            d.symbol(i as u32),
            f.code.offset,
            f.code.len,
            d.types[f.type_index as usize]
        );
        if let Some(name) = file.names.get(i as u32) {
            let _ = writeln!(w, "      name: {}", GuestName(name));
        }
        for (offset, code) in file.traps.in_range(f.code.offset, f.code.end()) {
            let _ = writeln!(w, "      trap at +{:#x}: {code}", offset - f.code.offset);
        }
        for site in file.stack_maps.in_range(f.code.offset, f.code.end()) {
            match site {
                Ok((ret, map)) => {
                    let slots: Vec<String> = map.offsets().map(|o| format!("sp+{o}")).collect();
                    let _ = writeln!(
                        w,
                        "      call returning to +{:#x} keeps GC references at {} (frame {} bytes)",
                        ret - f.code.offset,
                        slots.join(", "),
                        map.frame_size
                    );
                }
                Err(e) => {
                    let _ = writeln!(w, "      {e}");
                    break;
                }
            }
        }
        let handler_sites = d
            .handlers
            .binary_search_by_key(&(i as u32), |h| h.func_index)
            .map_or(&[][..], |at| &d.handlers[at].sites);
        for h in handler_sites {
            let handlers: Vec<String> = h
                .handlers
                .iter()
                .map(|h| match h {
                    Handler::Tag { tag, target } => format!("tag {tag} -> +{target:#x}"),
                    Handler::All { target } => format!("all -> +{target:#x}"),
                })
                .collect();
            let _ = writeln!(
                w,
                "      call returning to +{:#x} catches: {}",
                h.return_offset,
                handlers.join(", ")
            );
        }
    }
    let _ = writeln!(w, "\ntrampolines: {}", d.trampolines.len());
    for t in &d.trampolines {
        let _ = writeln!(
            w,
            "  for [{}] at {:#08x}, {} bytes",
            t.func_index, t.code.offset, t.code.len
        );
    }
    let _ = writeln!(
        w,
        "\ncall table: {} (after the code, at {:#08x})",
        d.call_table.len(),
        file.text.len()
    );
    for (i, symbol) in d.call_table.iter().enumerate() {
        let _ = writeln!(w, "  [{i}] {}", GuestName(symbol));
    }
    out
}
