use super::*;

fn data() -> Json {
    Json::parse(
        r#"{
        "Id": "abc123",
        "Name": "/web",
        "State": {"Status": "running", "Running": true, "ExitCode": 0, "Pid": 42},
        "Config": {"Labels": {"b": "2", "a": "1"}, "Env": ["A=1", "B=2"], "Cmd": null},
        "Mounts": [{"Source": "/s1"}, {"Source": "/s2"}],
        "Empty": []
    }"#,
    )
    .unwrap()
}

fn render(source: &str) -> String {
    match Template::parse(source).and_then(|t| t.render(&data())) {
        Ok(s) => s,
        Err(e) => panic!("{source:?}: {e}"),
    }
}

#[test]
fn fields_and_text() {
    assert_eq!(render("{{.State.Status}}"), "running");
    assert_eq!(render("{{.State.ExitCode}}"), "0");
    assert_eq!(render("{{.Id}} {{.Name}}"), "abc123 /web");
    assert_eq!(render("id={{ .Id }};"), "id=abc123;");
    assert_eq!(render("{{.State.Running}}"), "true");
    assert_eq!(render("plain"), "plain");
    assert_eq!(render(""), "");
}

#[test]
fn missing_and_null_print_no_value() {
    assert_eq!(render("{{.Nope}}"), "<no value>");
    assert_eq!(render("{{.Nope.Deeper}}"), "<no value>");
    assert_eq!(render("{{.Config.Cmd}}"), "<no value>");
}

#[test]
fn json_keeps_order() {
    assert_eq!(
        render("{{json .State}}"),
        r#"{"Status":"running","Running":true,"ExitCode":0,"Pid":42}"#
    );
    assert_eq!(render("{{json .Config.Cmd}}"), "null");
    assert_eq!(render("{{.State | json}}"), render("{{json .State}}"));
}

#[test]
fn go_printing_of_composites() {
    assert_eq!(render("{{.Config.Env}}"), "[A=1 B=2]");
    assert_eq!(render("{{.Config.Labels}}"), "map[a:1 b:2]");
}

#[test]
fn functions() {
    assert_eq!(render(r#"{{index .Config.Labels "b"}}"#), "2");
    assert_eq!(render("{{index .Config.Env 1}}"), "B=2");
    assert_eq!(render(r#"{{join .Config.Env ","}}"#), "A=1,B=2");
    assert_eq!(render("{{len .Mounts}}"), "2");
    assert_eq!(render("{{upper .State.Status}}"), "RUNNING");
    assert_eq!(render("{{.State.Status | upper}}"), "RUNNING");
    assert_eq!(render("{{title \"hello world\"}}"), "Hello World");
    assert_eq!(render("{{truncate .Id 3}}"), "abc");
    assert_eq!(render(r#"{{printf "%s:%d" .Name .State.Pid}}"#), "/web:42");
    assert_eq!(render(r#"{{print .State.Pid 1}}"#), "42 1");
    assert_eq!(render(r#"{{eq .State.Status "running"}}"#), "true");
    assert_eq!(render(r#"{{ne .State.Pid 42}}"#), "false");
    assert_eq!(render(r#"{{split "a:b" ":"}}"#), "[a b]");
    assert_eq!(render(r#"{{upper (index .Config.Env 0)}}"#), "A=1");
}

#[test]
fn blocks() {
    assert_eq!(render("{{range .Mounts}}{{.Source}} {{end}}"), "/s1 /s2 ");
    assert_eq!(render("{{range .Empty}}x{{else}}none{{end}}"), "none");
    assert_eq!(render("{{if .State.Running}}up{{else}}down{{end}}"), "up");
    assert_eq!(
        render(r#"{{if eq .State.Status "exited"}}e{{else if .State.Running}}r{{else}}?{{end}}"#),
        "r"
    );
    assert_eq!(render("{{with .State}}{{.Pid}}{{end}}"), "42");
    assert_eq!(render("{{with .Nope}}x{{else}}y{{end}}"), "y");
}

#[test]
fn trim_markers() {
    assert_eq!(render("a  {{- .Id -}}  b"), "aabc123b");
    assert_eq!(render("{{/* note */}}x"), "x");
}

#[test]
fn errors() {
    for bad in [
        "{{.Id",
        "{{if .Id}}x",
        "{{end}}",
        "{{nosuchfunc .Id}}",
        "{{$x}}",
        "{{define \"x\"}}{{end}}",
        "{{\"unterminated}}",
    ] {
        let err = Template::parse(bad).unwrap_err();
        assert!(
            err.to_string().starts_with("template parsing error: "),
            "{bad}: {err}"
        );
    }
    let t = Template::parse("{{.Id.Sub}}").unwrap();
    let err = t.render(&data()).unwrap_err().to_string();
    assert!(err.contains("can't evaluate field Sub"), "{err}");
    let t = Template::parse("{{.Id 1}}").unwrap();
    assert!(t.render(&data()).is_err());
}
