-- The sentiment stream processor as a Flink SQL job, for users running Flink.
--
-- It reads the records the KafkaStreamingAgent bridge writes to `sentiment_requests`
-- (Avro, Confluent wire format, schema from Schema Registry) and writes one reply per request
-- to `sentiment_responses`, copying the correlation headers back, exactly as the Python
-- service (service.py, built with akx-bridge's `serve`) does. See the akx-bridge README for
-- the record contract. Run the two alternatively, not together, on one pair of topics.
--
-- Scoring uses VADER through a Python UDF (PyFlink), the same model as the Python service:
--   sentiment_udf.py:
--     from pyflink.table.udf import udf
--     from pyflink.table import DataTypes
--     from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
--     _analyzer = SentimentIntensityAnalyzer()
--     @udf(result_type=DataTypes.DOUBLE())
--     def vader_compound(text):
--         return _analyzer.polarity_scores(text or "")["compound"]

SET 'pipeline.name' = 'akx-sentiment';

CREATE TEMPORARY SYSTEM FUNCTION vader_compound AS 'sentiment_udf.vader_compound' LANGUAGE PYTHON;

CREATE TABLE sentiment_requests (
    `text` STRING,
    `headers` MAP<STRING, BYTES> METADATA,
    `key` BYTES METADATA FROM 'key' VIRTUAL
) WITH (
    'connector' = 'kafka',
    'topic' = 'sentiment_requests',
    'properties.bootstrap.servers' = '${BOOTSTRAP_SERVERS}',
    'properties.group.id' = 'sentiment-service',
    'scan.startup.mode' = 'group-offsets',
    'properties.auto.offset.reset' = 'earliest',
    'value.format' = 'avro-confluent',
    'value.avro-confluent.url' = '${SCHEMA_REGISTRY_URL}',
    'value.fields-include' = 'EXCEPT_KEY'
);

CREATE TABLE sentiment_responses (
    `sentiment` STRING,
    `score` DOUBLE,
    `headers` MAP<STRING, BYTES> METADATA,
    `record_key` BYTES
) WITH (
    'connector' = 'kafka',
    'topic' = 'sentiment_responses',
    'properties.bootstrap.servers' = '${BOOTSTRAP_SERVERS}',
    'key.format' = 'raw',
    'key.fields' = 'record_key',
    'value.format' = 'avro-confluent',
    'value.avro-confluent.url' = '${SCHEMA_REGISTRY_URL}',
    'value.avro-confluent.subject' = 'sentiment_responses-value',
    -- The bridge checks the reply's record name, so write with the schema it derived from
    -- SentimentResponse (Flink's default record name would be `record`).
    'value.avro-confluent.schema' = '{"type": "record", "name": "SentimentResponse", "namespace": "sentiment_sample.modules.events", "fields": [{"name": "sentiment", "type": "string"}, {"name": "score", "type": "double", "default": 0.0}]}',
    'value.fields-include' = 'EXCEPT_KEY'
);

-- One reply per request: label with VADER's customary thresholds, and echo the
-- correlation id (header and key) so the bridge matches the reply to its caller.
INSERT INTO sentiment_responses
SELECT
    CASE
        WHEN score >= 0.05 THEN 'positive'
        WHEN score <= -0.05 THEN 'negative'
        ELSE 'neutral'
    END AS sentiment,
    score,
    MAP['correlation-id', headers['correlation-id'],
        'content-type', CAST('application/avro' AS BYTES)] AS headers,
    `key` AS record_key
FROM (
    SELECT vader_compound(`text`) AS score, headers, `key`
    FROM sentiment_requests
);
