-- More provider kinds: Azure OpenAI, and OpenAI-compatible presets (Mistral, Cohere, Groq,
-- Together, xAI, DeepSeek).
ALTER TABLE providers DROP CONSTRAINT providers_kind_check;
ALTER TABLE providers ADD CONSTRAINT providers_kind_check
    CHECK (kind IN ('openai', 'anthropic', 'openrouter', 'google', 'custom', 'azure', 'mistral',
                    'cohere', 'groq', 'together', 'xai', 'deepseek'));
