-- Tables read (and optionally updated) by the MySQL catalog of @ncr-upload/core.
-- The default listFilesSql reads job_files; the reportResultSql example in
-- README.md updates jobs. Works on MySQL 8 and MariaDB 10.6+.

CREATE TABLE IF NOT EXISTS jobs (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id       VARCHAR(255)    NOT NULL,
  row_id       BIGINT          NULL,
  username     VARCHAR(255)    NOT NULL,
  campaign     VARCHAR(255)    NOT NULL,
  -- pending until the pipeline reports: succeeded | failed | rejected | cancelled
  status       VARCHAR(32)     NOT NULL DEFAULT 'pending',
  task_id      VARCHAR(64)     NULL,
  remote_path  VARCHAR(1024)   NULL,
  sha256       CHAR(64)        NULL,
  size         BIGINT UNSIGNED NULL,
  error_code   VARCHAR(64)     NULL,
  error        VARCHAR(2000)   NULL,
  created_at   TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at   TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY uq_jobs_job_id (job_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS job_files (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id     VARCHAR(255)    NOT NULL,
  -- the object key in the bucket (or a path under the storage folder)
  file_key   VARCHAR(1024)   NOT NULL,
  -- the name inside the zip; NULL means the last segment of file_key
  file_name  VARCHAR(255)    NULL,
  -- bytes; checked against what storage sends when not NULL
  file_size  BIGINT UNSIGNED NULL,
  -- a folder inside {campaign}/{username}/{job_id}/ in the zip; NULL for none
  folder     VARCHAR(512)    NULL,
  KEY idx_job_files_job_id (job_id, id),
  CONSTRAINT fk_job_files_job FOREIGN KEY (job_id) REFERENCES jobs (job_id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
