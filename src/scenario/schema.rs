pub fn schema_json() -> String {
    String::new()
}
