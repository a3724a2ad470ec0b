from botkit._plugin import Plugin

plugin = Plugin("hello", version="2.0")
