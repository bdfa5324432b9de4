//! Rendered SQL for every object of the default pipeline, secrets kept out of what is shown,
//! and what Snowflake does not support refused with a reason.

use std::time::Duration;

use snowdrift_snowflake::render::schedule;
use snowdrift_snowflake::{Renderer, Secret, SnowflakeError, StageAccess};
use snowdrift_warehouse::{ObjectDef, OnError, PipelineSpec, Schedule, StageDef};

fn spec() -> PipelineSpec {
    PipelineSpec {
        stage_url: "s3://acme-landing/customers".into(),
        ..PipelineSpec::default()
    }
}

fn find<'a>(objects: &'a [ObjectDef], name: &str) -> &'a ObjectDef {
    objects.iter().find(|o| o.name() == name).unwrap()
}

#[test]
fn scd_tables_carry_their_system_columns() {
    let objects = spec().objects();
    let renderer = Renderer::new("snowdrift", "public");
    let ObjectDef::Table(customer) = find(&objects, "customer") else {
        panic!()
    };
    let sql = renderer.table(customer).unwrap().to_string();
    assert!(
        sql.ends_with("\"COUNTRY\" VARCHAR, \"UPDATE_TIMESTAMP\" TIMESTAMP_NTZ)"),
        "{sql}"
    );
    let ObjectDef::Table(history) = find(&objects, "customer_history") else {
        panic!()
    };
    let sql = renderer.table(history).unwrap().to_string();
    assert!(
        sql.ends_with("\"START_TIME\" TIMESTAMP_NTZ NOT NULL, \"END_TIME\" TIMESTAMP_NTZ NOT NULL, \"IS_CURRENT\" BOOLEAN NOT NULL)"),
        "{sql}"
    );
}

#[test]
fn the_file_format_spells_out_every_option() {
    let objects = spec().objects();
    let ObjectDef::FileFormat(format) = find(&objects, "customer_csv") else {
        panic!()
    };
    let sql = Renderer::new("db", "sc")
        .file_format(format)
        .unwrap()
        .to_string();
    assert_eq!(
        sql,
        "CREATE FILE FORMAT IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_CSV\" TYPE = CSV FIELD_DELIMITER = ',' \
         SKIP_HEADER = 1 FIELD_OPTIONALLY_ENCLOSED_BY = '\"' NULL_IF = ('\\\\N') EMPTY_FIELD_AS_NULL = TRUE \
         ERROR_ON_COLUMN_COUNT_MISMATCH = TRUE COMPRESSION = AUTO TRIM_SPACE = FALSE SKIP_BLANK_LINES = FALSE \
         ENCODING = 'UTF8'"
    );
}

#[test]
fn stage_keys_are_never_shown_but_are_executed() {
    let objects = spec().objects();
    let ObjectDef::Stage(stage) = find(&objects, "customer_stage") else {
        panic!()
    };
    let renderer = Renderer::new("db", "sc");
    let keys = StageAccess::Keys {
        key_id: Secret::new("AKIAEXAMPLE"),
        secret_key: Secret::new("wJalr/secret'quote"),
    };
    let statement = renderer.stage(stage, &keys).unwrap();
    let shown = format!("{statement} {statement:?}");
    assert!(
        !shown.contains("AKIAEXAMPLE") && !shown.contains("wJalr"),
        "{shown}"
    );
    assert!(
        shown.contains("AWS_KEY_ID = '***' AWS_SECRET_KEY = '***'"),
        "{shown}"
    );
    let executed = statement.expose_sql();
    assert!(
        executed.contains("AWS_SECRET_KEY = 'wJalr/secret''quote'"),
        "{executed}"
    );
    let integration = renderer
        .stage(stage, &StageAccess::Integration("s3_int".into()))
        .unwrap()
        .to_string();
    assert_eq!(
        integration,
        "CREATE STAGE IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_STAGE\" URL = 's3://acme-landing/customers' \
         STORAGE_INTEGRATION = \"S3_INT\" FILE_FORMAT = (FORMAT_NAME = '\"DB\".\"SC\".\"CUSTOMER_CSV\"')"
    );
    let local = StageDef {
        url: "./landing".into(),
        ..stage.clone()
    };
    assert!(renderer.stage(&local, &StageAccess::None).is_err());
}

#[test]
fn the_pipe_copies_with_skip_file_and_the_streams_are_declared() {
    let objects = spec().objects();
    let renderer = Renderer::new("db", "sc");
    let ObjectDef::Pipe(pipe) = find(&objects, "customer_pipe") else {
        panic!()
    };
    let ObjectDef::Table(raw) = find(&objects, "customer_raw") else {
        panic!()
    };
    assert_eq!(
        renderer.pipe(pipe, raw).unwrap().to_string(),
        "CREATE PIPE IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_PIPE\" AUTO_INGEST = TRUE AS COPY INTO \
         \"DB\".\"SC\".\"CUSTOMER_RAW\" (\"CUSTOMER_ID\", \"FIRST_NAME\", \"LAST_NAME\", \"EMAIL\", \"STREET\", \
         \"CITY\", \"STATE\", \"COUNTRY\", \"_SNOWDRIFT_FILE\", \"_SNOWDRIFT_ROW\") FROM (SELECT $1, $2, $3, $4, $5, \
         $6, $7, $8, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER FROM @\"DB\".\"SC\".\"CUSTOMER_STAGE\") \
         FILE_FORMAT = (FORMAT_NAME = '\"DB\".\"SC\".\"CUSTOMER_CSV\"') ON_ERROR = SKIP_FILE"
    );
    let aborting = snowdrift_warehouse::PipeDef {
        on_error: OnError::AbortStatement,
        ..pipe.clone()
    };
    assert!(
        renderer
            .pipe(&aborting, raw)
            .unwrap_err()
            .to_string()
            .contains("ABORT_STATEMENT")
    );
    let ObjectDef::Stream(raw_stream) = find(&objects, "customer_raw_stream") else {
        panic!()
    };
    assert_eq!(
        renderer.stream(raw_stream).unwrap().to_string(),
        "CREATE STREAM IF NOT EXISTS \"DB\".\"SC\".\"CUSTOMER_RAW_STREAM\" ON TABLE \"DB\".\"SC\".\"CUSTOMER_RAW\" \
         APPEND_ONLY = TRUE SHOW_INITIAL_ROWS = FALSE"
    );
}

#[test]
fn schedules_snowflake_takes_and_the_ones_it_does_not() {
    let minute = PipelineSpec::original_schedule();
    assert_eq!(schedule("t", &minute).unwrap(), "'1 MINUTE'");
    assert_eq!(
        schedule("t", &Schedule::Interval(Duration::from_secs(15))).unwrap(),
        "'15 SECONDS'"
    );
    let cron = Schedule::parse("USING CRON 0 9 * * MON-FRI Europe/Oslo").unwrap();
    assert_eq!(
        schedule("t", &cron).unwrap(),
        "'USING CRON 0 9 * * MON-FRI Europe/Oslo'"
    );
    let fast = schedule("t", &Schedule::Interval(Duration::from_millis(100))).unwrap_err();
    assert!(
        matches!(&fast, SnowflakeError::Unsupported { object, .. } if object == "task t"),
        "{fast}"
    );
}

#[test]
fn hostile_names_never_reach_sql() {
    let mut spec = spec();
    spec.raw_table = "raw\"; DROP DATABASE prod; --".into();
    let objects = spec.objects();
    let ObjectDef::Table(raw) = &objects[0] else {
        panic!()
    };
    assert!(Renderer::new("db", "sc").table(raw).is_err());
    assert!(Renderer::new("db; drop", "sc").namespace().is_err());
}
