"""The sensing hub: city devices over MQTT and HTTP, validation, time series, rules, alarms and the AQI."""
