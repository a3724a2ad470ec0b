from botkit._plugin import Plugin

plugin = Plugin("fine")
