-- A sample job with three files. The keys match this bucket layout:
--   uploads/spring-2025/alice/job-1001/front.jpg
--   uploads/spring-2025/alice/job-1001/back.jpg
--   uploads/spring-2025/alice/job-1001/consent-form.pdf
-- Sizes are those of the sample files; put objects with these keys and sizes
-- in your bucket (or local storage folder) to run the job end to end.

INSERT INTO jobs (job_id, row_id, username, campaign)
VALUES ('job-1001', 1001, 'alice', 'spring-2025');

INSERT INTO job_files (job_id, file_key, file_name, file_size, folder) VALUES
  ('job-1001', 'uploads/spring-2025/alice/job-1001/front.jpg',        NULL,          2048, 'images'),
  ('job-1001', 'uploads/spring-2025/alice/job-1001/back.jpg',         NULL,          1024, 'images'),
  ('job-1001', 'uploads/spring-2025/alice/job-1001/consent-form.pdf', 'consent.pdf',  512, 'documents');
