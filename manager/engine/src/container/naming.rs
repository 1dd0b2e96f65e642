//! Container ids and names: ids are 64 random hex (shown as 12, accepted as
//! any unique prefix); names are the user's or docker-style generated
//! `adjective_surname`, unique per namespace. Lookup takes a full id, a name
//! or a unique id prefix, in that order, as docker does.

use rand::seq::SliceRandom;
use rand::Rng;

use super::record::ContainerRecord;
use crate::container::Containers;
use crate::error::{ManagerError, Result};

/// A new container id: 64 hex. Like docker, never one whose short form is
/// all digits (it would read as a number).
pub fn new_id() -> String {
    let mut rng = rand::thread_rng();
    loop {
        let bytes: [u8; 32] = rng.gen();
        let id = hex::encode(bytes);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// Checks a user-given name (docker's `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) and
/// returns it without the leading '/'.
pub fn validate_name(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let ok = n.len() >= 2
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(n.to_string())
    } else {
        Err(ManagerError::InvalidArgument(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "condescending",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "albattani",
    "allen",
    "almeida",
    "archimedes",
    "ardinghelli",
    "aryabhata",
    "austin",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bassi",
    "beaver",
    "bell",
    "benz",
    "bhabha",
    "bhaskara",
    "blackwell",
    "bohr",
    "booth",
    "borg",
    "bose",
    "boyd",
    "brahmagupta",
    "brattain",
    "brown",
    "carson",
    "cerf",
    "chandrasekhar",
    "chaplygin",
    "chatelet",
    "chatterjee",
    "chebyshev",
    "clarke",
    "colden",
    "cori",
    "cray",
    "curie",
    "darwin",
    "davinci",
    "dijkstra",
    "dubinsky",
    "easley",
    "edison",
    "einstein",
    "elion",
    "engelbart",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gates",
    "goldberg",
    "goldstine",
    "goldwasser",
    "golick",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hellman",
    "hermann",
    "herschel",
    "hertz",
    "hodgkin",
    "hofstadter",
    "hoover",
    "hopper",
    "hugle",
    "hypatia",
    "jackson",
    "jang",
    "jennings",
    "jepsen",
    "johnson",
    "joliot",
    "jones",
    "kalam",
    "kapitsa",
    "kare",
    "keldysh",
    "keller",
    "kepler",
    "khorana",
    "kilby",
    "kirch",
    "knuth",
    "kowalevski",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lederberg",
    "lehmann",
    "lewin",
    "lichterman",
    "liskov",
    "lovelace",
    "lumiere",
    "mahavira",
    "margulis",
    "matsumoto",
    "maxwell",
    "mayer",
    "mccarthy",
    "mcclintock",
    "mclean",
    "mcnulty",
    "meitner",
    "mendel",
    "mendeleev",
    "merkle",
    "mestorf",
    "mirzakhani",
    "moore",
    "morse",
    "murdock",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nightingale",
    "nobel",
    "noether",
    "northcutt",
    "noyce",
    "panini",
    "pare",
    "pascal",
    "pasteur",
    "payne",
    "perlman",
    "pike",
    "poincare",
    "poitras",
    "ptolemy",
    "raman",
    "ramanujan",
    "ride",
    "ritchie",
    "robinson",
    "roentgen",
    "rosalind",
    "rubin",
    "saha",
    "sammet",
    "shamir",
    "shannon",
    "shaw",
    "shirley",
    "shockley",
    "sinoussi",
    "snyder",
    "spence",
    "stonebraker",
    "sutherland",
    "swanson",
    "swartz",
    "swirles",
    "taussig",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "vaughan",
    "villani",
    "visvesvaraya",
    "volhard",
    "wescoff",
    "wilbur",
    "wiles",
    "williams",
    "williamson",
    "wilson",
    "wing",
    "wozniak",
    "wright",
    "wu",
    "yalow",
    "yonath",
];

/// A docker-style name, `adjective_surname`; after a collision (`retry` >
/// 0) with a random digit appended, as docker does.
pub fn generate_name(retry: u32) -> String {
    let mut rng = rand::thread_rng();
    loop {
        let adj = ADJECTIVES.choose(&mut rng).copied().unwrap_or("quirky");
        let sur = SURNAMES.choose(&mut rng).copied().unwrap_or("turing");
        // Steve Wozniak is not boring (docker's one exception).
        if adj == "boring" && sur == "wozniak" {
            continue;
        }
        let mut name = format!("{adj}_{sur}");
        if retry > 0 {
            name.push_str(&rng.gen_range(0..10).to_string());
        }
        return name;
    }
}

/// Finds a container among `records` by full id, then name, then unique id
/// prefix. NotFound when nothing matches; InvalidArgument when a prefix
/// matches several.
pub fn find<'a>(records: &'a [ContainerRecord], s: &str) -> Result<&'a ContainerRecord> {
    let s = s.trim();
    let not_found = || ManagerError::NotFound(format!("No such container: {s}"));
    if s.is_empty() {
        return Err(not_found());
    }
    if let Some(r) = records.iter().find(|r| r.id == s) {
        return Ok(r);
    }
    let name = s.strip_prefix('/').unwrap_or(s);
    if let Some(r) = records.iter().find(|r| r.name == name) {
        return Ok(r);
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let mut matches = records.iter().filter(|r| r.id.starts_with(s));
    match (matches.next(), matches.next()) {
        (Some(r), None) => Ok(r),
        (Some(_), Some(_)) => Err(ManagerError::InvalidArgument(format!(
            "multiple IDs found with provided prefix: {s}"
        ))),
        (None, _) => Err(not_found()),
    }
}

impl Containers {
    /// The container `s` names (full id, name or unique id prefix).
    pub fn lookup_container(&self, ns: &str, s: &str) -> Result<ContainerRecord> {
        let all = self.container_records(ns)?;
        find(&all, s).cloned()
    }

    /// The container `s` names and its live task; FAILED_PRECONDITION when
    /// it is not running.
    pub(crate) fn running_container(
        &self,
        ns: &str,
        s: &str,
    ) -> Result<(ContainerRecord, std::sync::Arc<super::task::Task>)> {
        let rec = self.lookup_container(ns, s)?;
        match self.registry().handle(ns, &rec.id).task() {
            Some(t) if rec.state.running() => Ok((rec, t)),
            _ => Err(ManagerError::FailedPrecondition(format!(
                "container {s} is not running"
            ))),
        }
    }

    /// The id of the container named `name` in `ns`, if any.
    pub(crate) fn container_named(&self, ns: &str, name: &str) -> Result<Option<String>> {
        Ok(self
            .container_records(ns)?
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| r.id))
    }

    /// Gives a container a new name, unique in its namespace.
    #[tracing::instrument(skip_all, fields(namespace = %ns, container = %s))]
    pub async fn rename_container(&self, ns: &str, s: &str, new_name: &str) -> Result<()> {
        let new_name = validate_name(new_name)?;
        let rec = self.lookup_container(ns, s)?;
        if rec.name == new_name {
            return Err(ManagerError::InvalidArgument(format!(
                "Renaming a container with the same name as its current name: {new_name}"
            )));
        }
        let registry = self.registry();
        let _name = registry.reserve_name(ns, &new_name, || self.container_named(ns, &new_name))?;
        self.update_container(ns, &rec.id, |r| {
            r.name = new_name.clone();
            Ok(())
        })?;
        tracing::info!(namespace = ns, id = %rec.id, name = %new_name, "renamed container");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ids() {
        for _ in 0..100 {
            let id = new_id();
            assert_eq!(id.len(), 64);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(!id[..12].bytes().all(|b| b.is_ascii_digit()));
        }
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("web").unwrap(), "web");
        assert_eq!(validate_name("/web-1.a_b").unwrap(), "web-1.a_b");
        for bad in ["", "a", "-x", "_x", "a b", "a/b", "é1", "/"] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad:?}");
        }
        for retry in [0, 1] {
            let n = generate_name(retry);
            assert!(validate_name(&n).is_ok(), "{n}");
            let (adj, sur) = n.split_once('_').unwrap();
            assert!(ADJECTIVES.contains(&adj));
            let sur = if retry > 0 {
                assert!(sur.ends_with(|c: char| c.is_ascii_digit()));
                &sur[..sur.len() - 1]
            } else {
                sur
            };
            assert!(SURNAMES.contains(&sur), "{n}");
        }
    }

    #[test]
    fn lookup() {
        let a = format!("abc1{}", "0".repeat(60));
        let b = format!("abc2{}", "0".repeat(60));
        let all = vec![rec(&a, "web"), rec(&b, "abc1")];
        assert_eq!(find(&all, &a).unwrap().id, a);
        assert_eq!(find(&all, "web").unwrap().id, a);
        assert_eq!(find(&all, "/web").unwrap().id, a);
        // A name wins over an id prefix, as in docker.
        assert_eq!(find(&all, "abc1").unwrap().id, b);
        assert_eq!(find(&all, "abc2").unwrap().id, b);
        let e = find(&all, "abc").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "multiple IDs found with provided prefix: abc"
        );
        for missing in ["", "zzz", "abd", "db"] {
            let e = find(&all, missing).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::NotFound, "{missing:?}");
        }
        assert_eq!(
            find(&all, "db").unwrap_err().to_string(),
            "No such container: db"
        );
    }
}
