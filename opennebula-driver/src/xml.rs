//! Pure parsing of the XML documents OpenNebula hands to a storage driver: the DS action message
//! (`<DS_DRIVER_ACTION_DATA>`), `<DATASTORE>` and `<VM>` documents (from oned's XML-RPC API, the
//! CLI, or premigrate's stdin), and XML-RPC method responses. Values may be plain text or CDATA.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Nesting bound: oned's documents are a handful of levels deep.
const MAX_DEPTH: usize = 64;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// Not well-formed XML, as the parser found.
    #[error("malformed XML at byte {pos}")]
    Parse {
        /// Where the parser was.
        pos: u64,
        /// What it found.
        #[source]
        source: quick_xml::Error,
    },
    /// Well-formed, but not the expected document.
    #[error("unexpected XML document: {0}")]
    Unexpected(String),
}

/// One XML element: name, concatenated text (CDATA included) and children in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// Text content (trimmed).
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// First child with this tag.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this tag.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the first child with this tag, `None` when absent or empty.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// Element at a `/`-separated path of child tags.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/')
            .filter(|p| !p.is_empty())
            .try_fold(self, |e, p| e.child(p))
    }

    /// Template-style map of the leaf children (`KEY -> value`); vector attributes are skipped.
    pub fn leaf_map(&self) -> BTreeMap<String, String> {
        self.children
            .iter()
            .filter(|c| c.children.is_empty())
            .map(|c| (c.name.clone(), c.text.clone()))
            .collect()
    }
}

/// Parse a whole document into its root element.
pub fn parse_document(text: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let malformed = |pos: u64| move |source| XmlError::Parse { pos, source };
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(malformed(pos))?;
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                let _ = s;
                return Err(XmlError::Malformed(format!(
                    "content after the root element (at byte {pos})"
                )));
            }
            Event::Start(s) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::Malformed(format!(
                        "elements nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                stack.push(Element {
                    name: String::from_utf8_lossy(s.name().as_ref()).into_owned(),
                    ..Default::default()
                });
            }
            Event::Empty(s) => {
                let e = Element {
                    name: String::from_utf8_lossy(s.name().as_ref()).into_owned(),
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| {
                    XmlError::Malformed(format!("unbalanced end tag (at byte {pos})"))
                })?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(malformed(pos))?;
                push_text(&mut stack, &s, pos)?;
            }
            Event::CData(c) => {
                let s = String::from_utf8_lossy(&c.into_inner()).into_owned();
                push_text(&mut stack, &s, pos)?;
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Malformed(format!(
            "document ends inside <{}>",
            open.name
        )));
    }
    root.ok_or_else(|| XmlError::Malformed("empty document".into()))
}

fn push_text(stack: &mut [Element], s: &str, pos: u64) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(e) => {
            e.text.push_str(s.trim());
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed(format!(
            "text outside the root element (at byte {pos})"
        ))),
    }
}

fn num<T: std::str::FromStr>(e: &Element, name: &str, doc: &str) -> Result<Option<T>, XmlError> {
    match e.text_of(name) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| XmlError::Unexpected(format!("{doc}/{name} is '{t}', expected a number"))),
    }
}

/// A datastore as in `<DATASTORE>`: identity, drivers and the template attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Datastore {
    /// DS id.
    pub id: u64,
    /// DS name.
    pub name: String,
    /// 0 image, 1 system, 2 file, 3 backup.
    pub ds_type: Option<u32>,
    /// DS driver name.
    pub ds_mad: String,
    /// TM driver name.
    pub tm_mad: String,
    /// `BASE_PATH`.
    pub base_path: String,
    /// Every leaf attribute of `<TEMPLATE>`.
    pub template: BTreeMap<String, String>,
}

impl Datastore {
    /// Read a `<DATASTORE>` element.
    pub fn from_element(e: &Element) -> Result<Self, XmlError> {
        if e.name != "DATASTORE" {
            return Err(XmlError::Unexpected(format!(
                "expected <DATASTORE>, found <{}>",
                e.name
            )));
        }
        Ok(Self {
            id: num(e, "ID", "DATASTORE")?
                .ok_or_else(|| XmlError::Unexpected("DATASTORE/ID is missing".into()))?,
            name: e.text_of("NAME").unwrap_or_default().to_string(),
            ds_type: num(e, "TYPE", "DATASTORE")?,
            ds_mad: e.text_of("DS_MAD").unwrap_or_default().to_string(),
            tm_mad: e.text_of("TM_MAD").unwrap_or_default().to_string(),
            base_path: e.text_of("BASE_PATH").unwrap_or_default().to_string(),
            template: e
                .child("TEMPLATE")
                .map(Element::leaf_map)
                .unwrap_or_default(),
        })
    }

    /// A template attribute, `None` when absent or blank.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.template
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// An image as in `<IMAGE>` of the DS action message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Image id (absent in `stat`).
    pub id: Option<u64>,
    /// `SOURCE` (empty for cp/mkfs).
    pub source: String,
    /// `PATH`: URL or file to import, or the source's SOURCE for clone.
    pub path: String,
    /// `FORMAT` (6.0+), else the legacy `FSTYPE`.
    pub format: String,
    /// `FS` (6.0+).
    pub fs: String,
    /// `SIZE` in MB.
    pub size_mb: Option<u64>,
    /// Image TYPE (0 OS, 1 CDROM, 2 DATABLOCK, 5 CONTEXT, 6 BACKUP, 7 FILESYSTEM).
    pub image_type: Option<u32>,
    /// `PERSISTENT`.
    pub persistent: bool,
    /// `TARGET_SNAPSHOT` (snapshot actions).
    pub target_snapshot: Option<u64>,
    /// `CLONING_ID` (clone: the source image).
    pub cloning_id: Option<u64>,
    /// Snapshot ids in `<SNAPSHOTS>`.
    pub snapshots: Vec<u64>,
}

impl Image {
    /// Read an `<IMAGE>` element.
    pub fn from_element(e: &Element) -> Result<Self, XmlError> {
        let text = |n: &str| e.text_of(n).unwrap_or_default().to_string();
        let format = e
            .text_of("FORMAT")
            .or_else(|| e.text_of("FSTYPE"))
            .unwrap_or_default()
            .to_string();
        let snapshots = match e.child("SNAPSHOTS") {
            Some(s) => s
                .children_named("SNAPSHOT")
                .map(|s| num::<u64>(s, "ID", "IMAGE/SNAPSHOTS/SNAPSHOT"))
                .filter_map(Result::transpose)
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let target_snapshot = match e.text_of("TARGET_SNAPSHOT") {
            Some("-1") | None => None,
            Some(_) => num(e, "TARGET_SNAPSHOT", "IMAGE")?,
        };
        let cloning_id = match e.text_of("CLONING_ID") {
            Some("-1") | None => None,
            Some(_) => num(e, "CLONING_ID", "IMAGE")?,
        };
        Ok(Self {
            id: num(e, "ID", "IMAGE")?,
            source: text("SOURCE"),
            path: text("PATH"),
            format,
            fs: text("FS"),
            size_mb: num(e, "SIZE", "IMAGE")?,
            image_type: num(e, "TYPE", "IMAGE")?,
            persistent: e.text_of("PERSISTENT") == Some("1"),
            target_snapshot,
            cloning_id,
            snapshots,
        })
    }
}

/// The DS action message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionData {
    /// `<IMAGE>` when present.
    pub image: Option<Image>,
    /// `<DATASTORE>` (always sent, except for `stat` documents of some versions).
    pub datastore: Option<Datastore>,
    /// `<MONITOR_VM_DISKS>` of system-DS monitoring.
    pub monitor_vm_disks: bool,
    /// `<DATASTORE_LOCATION>` of system-DS monitoring.
    pub datastore_location: Option<String>,
}

/// Parse a decoded `<DS_DRIVER_ACTION_DATA>` (export may send `<MARKET_DRIVER_ACTION_DATA>`).
pub fn parse_action_data(text: &str) -> Result<ActionData, XmlError> {
    let root = parse_document(text)?;
    if root.name != "DS_DRIVER_ACTION_DATA" && root.name != "MARKET_DRIVER_ACTION_DATA" {
        return Err(XmlError::Unexpected(format!(
            "expected <DS_DRIVER_ACTION_DATA>, found <{}>",
            root.name
        )));
    }
    Ok(ActionData {
        image: root.child("IMAGE").map(Image::from_element).transpose()?,
        datastore: root
            .child("DATASTORE")
            .map(Datastore::from_element)
            .transpose()?,
        monitor_vm_disks: root.text_of("MONITOR_VM_DISKS") == Some("1"),
        datastore_location: root.text_of("DATASTORE_LOCATION").map(str::to_string),
    })
}

/// One `<DISK>` of a VM template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disk {
    /// `DISK_ID`.
    pub disk_id: u64,
    /// `IMAGE_ID` (absent for volatile disks).
    pub image_id: Option<u64>,
    /// `SOURCE` of the image.
    pub source: String,
    /// `CLONE=YES`.
    pub clone: bool,
    /// `PERSISTENT=YES`.
    pub persistent: bool,
    /// `READONLY=YES`.
    pub readonly: bool,
    /// `TM_MAD` of the disk.
    pub tm_mad: String,
    /// `DATASTORE_ID`.
    pub datastore_id: Option<u64>,
    /// `SIZE` in MB.
    pub size_mb: Option<u64>,
    /// `TYPE` (e.g. `BLOCK`, `fs`, `swap`, `CDROM`).
    pub disk_type: String,
    /// `FORMAT`.
    pub format: String,
}

impl Disk {
    /// True for a volatile disk (no image behind it).
    pub fn is_volatile(&self) -> bool {
        self.image_id.is_none() && self.source.is_empty()
    }
}

/// A VM as in `<VM>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vm {
    /// VM id.
    pub id: u64,
    /// `LCM_STATE`.
    pub lcm_state: Option<u32>,
    /// `TEMPLATE/DISK` entries.
    pub disks: Vec<Disk>,
}

impl Vm {
    /// Read a `<VM>` element.
    pub fn from_element(e: &Element) -> Result<Self, XmlError> {
        if e.name != "VM" {
            return Err(XmlError::Unexpected(format!(
                "expected <VM>, found <{}>",
                e.name
            )));
        }
        let yes =
            |d: &Element, n: &str| d.text_of(n).is_some_and(|v| v.eq_ignore_ascii_case("YES"));
        let mut disks = Vec::new();
        if let Some(t) = e.child("TEMPLATE") {
            for d in t.children_named("DISK") {
                disks.push(Disk {
                    disk_id: num(d, "DISK_ID", "VM/TEMPLATE/DISK")?.ok_or_else(|| {
                        XmlError::Unexpected("VM/TEMPLATE/DISK without DISK_ID".into())
                    })?,
                    image_id: num(d, "IMAGE_ID", "VM/TEMPLATE/DISK")?,
                    source: d.text_of("SOURCE").unwrap_or_default().to_string(),
                    clone: yes(d, "CLONE"),
                    persistent: yes(d, "PERSISTENT"),
                    readonly: yes(d, "READONLY"),
                    tm_mad: d.text_of("TM_MAD").unwrap_or_default().to_string(),
                    datastore_id: num(d, "DATASTORE_ID", "VM/TEMPLATE/DISK")?,
                    size_mb: num(d, "SIZE", "VM/TEMPLATE/DISK")?,
                    disk_type: d.text_of("TYPE").unwrap_or_default().to_string(),
                    format: d.text_of("FORMAT").unwrap_or_default().to_string(),
                });
            }
        }
        Ok(Self {
            id: num(e, "ID", "VM")?
                .ok_or_else(|| XmlError::Unexpected("VM/ID is missing".into()))?,
            lcm_state: num(e, "LCM_STATE", "VM")?,
            disks,
        })
    }

    /// The disk with this id.
    pub fn disk(&self, disk_id: u64) -> Option<&Disk> {
        self.disks.iter().find(|d| d.disk_id == disk_id)
    }
}

/// Parse a `<VM>` document.
pub fn parse_vm(text: &str) -> Result<Vm, XmlError> {
    Vm::from_element(&parse_document(text)?)
}

/// Parse a `<DATASTORE>` document.
pub fn parse_datastore(text: &str) -> Result<Datastore, XmlError> {
    Datastore::from_element(&parse_document(text)?)
}

/// The payload of an OpenNebula XML-RPC `methodResponse`: `Ok(string)` when the first value is
/// true, `Err(message)` when oned reported a failure.
pub fn parse_xmlrpc_response(text: &str) -> Result<Result<String, String>, XmlError> {
    let root = parse_document(text)?;
    if root.name != "methodResponse" {
        return Err(XmlError::Unexpected(format!(
            "expected <methodResponse>, found <{}>",
            root.name
        )));
    }
    if let Some(fault) = root.child("fault") {
        return Ok(Err(flatten_text(fault)));
    }
    let values: Vec<&Element> = root
        .at("params/param/value/array/data")
        .map(|d| d.children_named("value").collect())
        .unwrap_or_default();
    let scalar = |v: &Element| -> String {
        v.children
            .first()
            .map(|c| c.text.clone())
            .unwrap_or_else(|| v.text.clone())
    };
    let (Some(ok), Some(body)) = (values.first(), values.get(1)) else {
        return Err(XmlError::Unexpected(
            "XML-RPC answer without the [success, body] array".into(),
        ));
    };
    let ok = matches!(scalar(ok).as_str(), "1" | "true");
    Ok(if ok {
        Ok(scalar(body))
    } else {
        Err(scalar(body))
    })
}

fn flatten_text(e: &Element) -> String {
    let mut out = e.text.clone();
    for c in &e.children {
        let t = flatten_text(c);
        if !t.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    out
}

/// Escape text for an XML element body.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = r#"<DS_DRIVER_ACTION_DATA><IMAGE><ID>42</ID><SOURCE><![CDATA[/dev/drbd/by-res/one-image-42/0]]></SOURCE>
<PATH>/tmp/a&amp;b</PATH><FORMAT>raw</FORMAT><FS></FS><SIZE>1024</SIZE><TYPE>2</TYPE><PERSISTENT>1</PERSISTENT>
<TARGET_SNAPSHOT>1</TARGET_SNAPSHOT><CLONING_ID>-1</CLONING_ID><SNAPSHOTS><ALLOW_ORPHANS>NO</ALLOW_ORPHANS>
<SNAPSHOT><ID>0</ID></SNAPSHOT><SNAPSHOT><ID>1</ID></SNAPSHOT></SNAPSHOTS></IMAGE>
<DATASTORE><ID>100</ID><NAME>ls</NAME><DS_MAD><![CDATA[linstor]]></DS_MAD><TM_MAD>linstor</TM_MAD>
<TEMPLATE><LS_CONTROLLERS><![CDATA[c1,c2]]></LS_CONTROLLERS><RESOURCE_GROUP>rg1</RESOURCE_GROUP></TEMPLATE></DATASTORE>
</DS_DRIVER_ACTION_DATA>"#;

    #[test]
    fn reads_cdata_and_escaped_text() {
        let m = parse_action_data(MSG).unwrap();
        let img = m.image.unwrap();
        assert_eq!(img.id, Some(42));
        assert_eq!(img.source, "/dev/drbd/by-res/one-image-42/0");
        assert_eq!(img.path, "/tmp/a&b");
        assert_eq!(img.size_mb, Some(1024));
        assert!(img.persistent);
        assert_eq!(img.target_snapshot, Some(1));
        assert_eq!(img.cloning_id, None);
        assert_eq!(img.snapshots, vec![0, 1]);
        let ds = m.datastore.unwrap();
        assert_eq!(ds.id, 100);
        assert_eq!(ds.ds_mad, "linstor");
        assert_eq!(ds.attr("LS_CONTROLLERS"), Some("c1,c2"));
    }

    #[test]
    fn legacy_fstype_is_the_format() {
        let m = parse_action_data(
            "<DS_DRIVER_ACTION_DATA><IMAGE><FSTYPE>qcow2</FSTYPE></IMAGE></DS_DRIVER_ACTION_DATA>",
        )
        .unwrap();
        assert_eq!(m.image.unwrap().format, "qcow2");
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "",
            "<A>",
            "<A></B>",
            "<A/><B/>",
            "text",
            "<DS_DRIVER_ACTION_DATA><IMAGE><ID>x</ID></IMAGE></DS_DRIVER_ACTION_DATA>",
            "<VM/>",
            "<A>&bogus;</A>",
        ] {
            let r = parse_action_data(bad);
            assert!(r.is_err(), "{bad:?} parsed as {r:?}");
        }
        let deep = "<A>".repeat(100) + &"</A>".repeat(100);
        assert!(parse_document(&deep)
            .unwrap_err()
            .to_string()
            .contains("nested"));
    }

    #[test]
    fn parser_errors_keep_their_source() {
        let e = parse_document("<A>&bogus;</A>").unwrap_err();
        assert!(matches!(e, XmlError::Parse { pos: 3, .. }), "{e:?}");
        let parsed: &quick_xml::Error = linstor_tests::errors::source(&e);
        let shown = linstor_common::error::chain(&e);
        assert!(
            linstor_tests::errors::names_once(&shown, parsed)
                .starts_with("malformed XML at byte 3: "),
            "{shown}"
        );
    }

    #[test]
    fn vm_disks() {
        let vm = parse_vm(
            "<VM><ID>31</ID><LCM_STATE>3</LCM_STATE><TEMPLATE><DISK><DISK_ID>0</DISK_ID><IMAGE_ID>7</IMAGE_ID>\
             <SOURCE>OpenNebula-Image-7</SOURCE><CLONE>YES</CLONE><TM_MAD>linstor</TM_MAD><DATASTORE_ID>100</DATASTORE_ID>\
             <SIZE>2048</SIZE></DISK><DISK><DISK_ID>1</DISK_ID><TYPE>swap</TYPE><SIZE>512</SIZE></DISK></TEMPLATE></VM>",
        )
        .unwrap();
        assert_eq!(vm.id, 31);
        assert_eq!(vm.disks.len(), 2);
        assert!(vm.disk(0).unwrap().clone);
        assert!(vm.disk(1).unwrap().is_volatile());
    }

    #[test]
    fn xmlrpc_answers() {
        let ok = "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>\
                  <value><boolean>1</boolean></value><value><string>&lt;VM&gt;&lt;ID&gt;1&lt;/ID&gt;&lt;/VM&gt;</string></value>\
                  <value><i4>0</i4></value></data></array></value></param></params></methodResponse>";
        assert_eq!(
            parse_xmlrpc_response(ok).unwrap(),
            Ok("<VM><ID>1</ID></VM>".into())
        );
        let fail = ok.replace("<boolean>1</boolean>", "<boolean>0</boolean>");
        assert!(parse_xmlrpc_response(&fail).unwrap().is_err());
    }
}
