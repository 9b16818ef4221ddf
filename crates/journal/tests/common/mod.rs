//! Where a test's journal lives: a SQLite file in a temporary directory, or
//! a fresh database on a throwaway PostgreSQL.

#![allow(dead_code)] // each test binary uses its own part

use haul_testkit::PgServer;

/// A journal location that lasts as long as the value.
pub(crate) enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(PgServer, String),
}

impl Db {
    pub(crate) fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().unwrap())
    }

    pub(crate) fn postgres() -> Self {
        let server = PgServer::start().expect("starting PostgreSQL");
        let url = server.create_db("haul").expect("creating the database");
        Self::Postgres(server, url)
    }

    pub(crate) fn location(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.path().join("j.db").display().to_string(),
            Self::Postgres(_, url) => url.clone(),
        }
    }

    pub(crate) fn server(&self) -> Option<&PgServer> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(s, _) => Some(s),
        }
    }
}
