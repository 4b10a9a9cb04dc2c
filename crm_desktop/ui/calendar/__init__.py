"""Calendar and activities screens.

Embed :class:`CalendarView` (``CalendarView(context)``) as the calendar screen. Give the app one
:class:`ReminderCenter` (``ReminderCenter(context)``, then ``.start()``) and pass it to the view
(``reminder_center=``) to list due reminders beside the calendar. Any screen can log a call with
``ActivityDialog.log(context, links=Links(account_id=..., label="Acme"), parent=self).open()``,
or give a record page Ctrl+L / Ctrl+Shift+L with ``install_log_shortcuts(page, context, links_fn)``.
"""

from crm_desktop.ui.calendar.activity_dialog import ActivityDialog, Links, install_log_shortcuts
from crm_desktop.ui.calendar.calendar_view import CalendarView
from crm_desktop.ui.calendar.panels import MyDayPanel, TeamPicker
from crm_desktop.ui.calendar.reminders import ReminderCenter, ReminderList

__all__ = [
    "ActivityDialog",
    "CalendarView",
    "Links",
    "MyDayPanel",
    "ReminderCenter",
    "ReminderList",
    "TeamPicker",
    "install_log_shortcuts",
]
