"""Record pages driven as a user would: type, click Save, pick from dialogs; assert screen and store."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import records_fixtures as rf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from records_fixtures import Crm, PageFactory, field
from sqlalchemy import func, select

from crm_desktop.models import (
    Account,
    AccountContact,
    Contact,
    Lead,
    Opportunity,
    OpportunityContact,
)
from crm_desktop.models.enums import LeadStatus
from crm_desktop.store import Store
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.records import create_record_page
from crm_desktop.ui.records.account_page import AccountPage
from crm_desktop.ui.records.contact_page import ContactPage
from crm_desktop.ui.records.lead_page import LeadPage
from crm_desktop.ui.records.opportunity_page import OpportunityPage

# Fixtures shared with the board tests.
crm = rf.crm
page_factory = rf.page_factory


def line(page: QWidget, name: str) -> QLineEdit:
    widget = field(page, name)
    assert isinstance(widget, QLineEdit)
    return widget


def error_text(page: QWidget, name: str) -> str:
    label = page.findChild(QLabel, f"{name}_error")
    assert label is not None
    return label.text() if label.isVisible() else ""


def save(qtbot: QtBot, page: AccountPage | ContactPage | LeadPage | OpportunityPage) -> None:
    """Click Save and wait until the store answered (saved, then reloaded)."""
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)


def choose(qtbot: QtBot, combo: QComboBox, text: str) -> None:
    """Pick an item of a combo box by its text, with the keyboard as a user would."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not offered"
    combo.setFocus()
    while combo.currentIndex() != index:
        key = Qt.Key.Key_Down if combo.currentIndex() < index else Qt.Key.Key_Up
        qtbot.keyClick(combo, key)


# --------------------------------------------------------------------------- account


def test_new_account_with_bad_email_names_the_field_and_writes_nothing(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("account", None)
    assert page.title_label.text() == "New account"
    qtbot.keyClicks(line(page, "name"), "Initrode")
    qtbot.keyClicks(line(page, "email"), "sales-at-initrode")
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert "Email" in error_text(page, "email")
    assert page.banner.isVisible() and "@" in page.banner.text()
    with store.sessions() as s:
        assert s.scalar(select(func.count()).where(Account.name == "Initrode")) == 0

    line(page, "email").clear()
    qtbot.keyClicks(line(page, "email"), "sales@initrode.example")
    qtbot.keyClicks(line(page, "credit_limit"), "25000")
    with qtbot.waitSignal(page.saved, timeout=5000) as saved:
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.title_label.text() == "Initrode")
    assert error_text(page, "email") == ""
    with store.sessions() as s:
        account = s.get(Account, saved.args[0])
        assert account is not None
        assert account.email == "sales@initrode.example"
        assert account.credit_limit == Decimal("25000")
        assert account.owner_id == crm.me  # a new record belongs to whoever creates it


def test_account_page_shows_contacts_with_titles_deals_and_timeline(
    qtbot: QtBot, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    page = page_factory("account", crm.acme)
    assert isinstance(page, AccountPage)
    assert page.title_label.text() == "Acme Corp"
    assert "Manufacturing" in page.subtitle_label.text()
    john = page.contacts.find_item("John Smith")
    assert john is not None and john.text(1) == "CTO"
    mei = page.contacts.find_item("王美")
    assert mei is not None and (mei.text(1), mei.text(2)) == ("Head of Purchasing", "Procurement")
    assert page.tabs.tabText(1) == "Opportunities (2)"
    groups = [
        page.opportunities.tree.topLevelItem(i).text(0)  # type: ignore[union-attr]
        for i in range(page.opportunities.tree.topLevelItemCount())
    ]
    assert groups == ["Open (1)", "Closed (1)"]
    assert page.timeline.item_count() == 1

    # Enter (or a double-click) on a contact asks the main window to open it.
    page.tabs.setCurrentIndex(0)
    page.contacts.tree.setFocus()
    page.contacts.tree.setCurrentItem(john)
    with qtbot.waitSignal(ui_context.record_requested) as requested:
        qtbot.keyClick(page.contacts.tree, Qt.Key.Key_Return)
    assert requested.args == ["contact", crm.john]


def test_delete_account_asks_first_and_leaves_a_tombstone(
    qtbot: QtBot,
    store: Store,
    crm: Crm,
    page_factory: PageFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = page_factory("account", crm.empty_account)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    with store.sessions() as s:
        assert s.get(Account, crm.empty_account).deleted is False  # type: ignore[union-attr]

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(page.deleted, timeout=5000):
        qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert not page.save_button.isEnabled()
    with store.sessions() as s:
        account = s.get(Account, crm.empty_account)
        assert account is not None and account.deleted  # a tombstone, never a hard delete


def test_account_with_open_deals_cannot_be_deleted(
    qtbot: QtBot,
    store: Store,
    crm: Crm,
    page_factory: PageFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = page_factory("account", crm.acme)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert "open opportunity" in page.banner.text()
    with store.sessions() as s:
        assert s.get(Account, crm.acme).deleted is False  # type: ignore[union-attr]


# --------------------------------------------------------------------------- contact


def test_contact_page_edits_phone_and_shows_jobs_and_roles(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("contact", crm.john)
    assert isinstance(page, ContactPage)
    assert page.subtitle_label.text() == "CTO at Acme Corp"
    assert page.accounts.find_item("Acme Corp") is not None
    role = page.roles.find_item("Acme turbines")
    assert role is not None and (role.text(3), role.text(4)) == ("Influencer", "Supporter")

    qtbot.keyClicks(line(page, "phone"), "12")
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert error_text(page, "phone").startswith("Phone")

    line(page, "phone").clear()
    qtbot.keyClicks(line(page, "phone"), "(415) 555-0188")
    save(qtbot, page)
    assert line(page, "phone").text() == "+1 415-555-0188"
    with store.sessions() as s:
        assert s.get(Contact, crm.john).phone == "+1 415-555-0188"  # type: ignore[union-attr]


@rf.offscreen_popups
def test_contact_is_linked_to_an_account_through_the_picker(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("contact", crm.john)
    assert isinstance(page, ContactPage)
    qtbot.mouseClick(page.link_button, Qt.MouseButton.LeftButton)
    dialog = page.link_dialog
    qtbot.waitUntil(dialog.isVisible)
    with qtbot.waitSignal(dialog.picker.matches_loaded, timeout=5000):
        qtbot.keyClicks(dialog.picker, "glob")
    assert dialog.picker.matches() == ["Globex"]
    dialog.picker.choose("Globex")
    qtbot.keyClicks(line(dialog, "title"), "Technical advisor")
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    item = page.accounts.find_item("Globex")
    assert item is not None and item.text(1) == "Technical advisor"
    with store.sessions() as s:
        link = s.scalar(
            select(AccountContact).where(
                AccountContact.contact_id == crm.john, AccountContact.account_id == crm.globex
            )
        )
        assert link is not None and link.title == "Technical advisor"


def test_new_contact_needs_a_name(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("contact", None)
    qtbot.keyClicks(line(page, "email"), "nobody@example.com")
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert "Last name" in error_text(page, "last_name")
    with store.sessions() as s:
        assert s.scalar(select(func.count()).where(Contact.email == "nobody@example.com")) == 0


# --------------------------------------------------------------------------- opportunity


def stage_center(page: OpportunityPage, name: str) -> object:
    index = [s.name for s in page.view.stages].index(name)
    return page.stage_bar.stage_rect(index).center()


def test_clicking_a_stage_moves_the_deal_and_probability_follows(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    assert page.probability.value() == 60
    assert page.weighted_label.text() == "75,000.00 USD"
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(
            page.stage_bar, Qt.MouseButton.LeftButton, pos=stage_center(page, "Negotiation")
        )
    assert page.stage_bar.current_stage_id == crm.stages["Negotiation"]
    assert page.probability.value() == 80
    assert page.weighted_label.text() == "100,000.00 USD"
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None and (opp.stage_id, opp.probability) == (
            crm.stages["Negotiation"],
            80,
        )


def test_typed_probability_survives_a_stage_move(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    page.probability.selectAll()
    qtbot.keyClicks(page.probability.lineEdit(), "35")
    save(qtbot, page)
    assert page.probability_caption.text() == "Probability (your figure)"
    assert page.follow_button.isVisible()
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(
            page.stage_bar, Qt.MouseButton.LeftButton, pos=stage_center(page, "Prospecting")
        )
    assert page.probability.value() == 35
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(page.follow_button, Qt.MouseButton.LeftButton)
    assert page.probability.value() == 10
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None and not opp.probability_overridden


def test_closing_lost_without_a_reason_is_refused(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    qtbot.mouseClick(page.lost_button, Qt.MouseButton.LeftButton)
    dialog = page.lost_dialog
    qtbot.waitUntil(dialog.isVisible)
    with qtbot.waitSignal(dialog.failed, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "reason" in error_text(dialog, "loss_reason")
    assert dialog.isVisible()
    with store.sessions() as s:
        assert s.get(Opportunity, crm.turbines).stage_id == crm.stages["Proposal"]  # type: ignore[union-attr]

    qtbot.keyClicks(line(dialog, "loss_reason"), "Lost on price to Initech")
    qtbot.keyClicks(field(dialog, "lessons_learned"), "Bring finance in earlier")
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert "Lost on price to Initech" in page.closed_note.text()
    assert not page.probability.isEnabled()
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None
        assert (opp.stage_id, opp.probability) == (crm.stages["Closed Lost"], 0)
        assert opp.lessons_learned == "Bring finance in earlier"


def test_clicking_the_lost_stage_asks_for_the_reason(
    qtbot: QtBot, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    qtbot.mouseClick(
        page.stage_bar, Qt.MouseButton.LeftButton, pos=stage_center(page, "Closed Lost")
    )
    qtbot.waitUntil(lambda: page.lost_dialog.isVisible())
    page.lost_dialog.reject()


def test_buying_centre_member_added_shows_who_decides(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    qtbot.mouseClick(page.add_member_button, Qt.MouseButton.LeftButton)
    dialog = page.member_dialog
    qtbot.waitUntil(dialog.isVisible)
    combo = field(dialog, "account_contact")
    assert isinstance(combo, QComboBox)
    choose(qtbot, combo, "王美 (Head of Purchasing)")
    role = field(dialog, "role")
    attitude = field(dialog, "attitude")
    influence = field(dialog, "influence")
    assert isinstance(role, QComboBox) and isinstance(attitude, QComboBox)
    assert isinstance(influence, QComboBox)
    choose(qtbot, role, "Decision maker")
    choose(qtbot, attitude, "Opponent")
    choose(qtbot, influence, "High")
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    tree = page.buying_centre.tree
    heads = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]  # type: ignore[union-attr]
    assert [h.split(" — ")[0] for h in heads] == [
        "Decision makers",
        "Influencers",
    ]  # deciders first
    member = page.buying_centre.member_item("王美")
    assert member is not None
    assert (member.text(1), member.text(2)) == ("Head of Purchasing", "Opponent")
    assert "Decides: 王美 (opponent)" in page.buying_centre.summary.text()
    with store.sessions() as s:
        rows = s.scalars(
            select(OpportunityContact).where(OpportunityContact.opportunity_id == crm.turbines)
        ).all()
        assert {(str(r.role), str(r.attitude)) for r in rows} == {
            ("decision_maker", "opponent"),
            ("influencer", "supporter"),
        }

    # Remove the supporter again.
    tree.setCurrentItem(page.buying_centre.member_item("John Smith"))
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(page.remove_member_button, Qt.MouseButton.LeftButton)
    assert page.buying_centre.member_item("John Smith") is None


@rf.offscreen_popups
def test_new_opportunity_requires_an_account(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", None)
    assert isinstance(page, OpportunityPage)
    qtbot.keyClicks(line(page, "name"), "Big new deal")
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert "Account" in error_text(page, "account_id")
    with qtbot.waitSignal(page.account_picker.matches_loaded, timeout=5000):
        qtbot.keyClicks(page.account_picker, "Acme")
    page.account_picker.choose("Acme Corp")
    line(page, "amount").clear()
    qtbot.keyClicks(line(page, "amount"), "40000")
    with qtbot.waitSignal(page.saved, timeout=5000) as saved:
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.title_label.text() == "Big new deal")
    with store.sessions() as s:
        opp = s.get(Opportunity, saved.args[0])
        assert opp is not None
        assert (opp.account_id, opp.amount, opp.probability) == (crm.acme, Decimal("40000"), 10)


# --------------------------------------------------------------------------- lead


def test_converting_a_lead_opens_the_new_opportunity(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    page = page_factory("lead", crm.lead)
    assert isinstance(page, LeadPage)
    assert page.convert_button.isEnabled()
    qtbot.mouseClick(page.convert_button, Qt.MouseButton.LeftButton)
    dialog = page.convert_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert line(dialog, "opportunity_name").text() == "Initech — new business"
    qtbot.keyClicks(line(dialog, "amount"), "12000")
    with qtbot.waitSignal(ui_context.record_requested, timeout=5000) as requested:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    entity, opportunity_id = requested.args
    assert entity == "opportunity" and isinstance(opportunity_id, uuid.UUID)
    qtbot.waitUntil(lambda: page.converted_box.isVisible(), timeout=5000)
    assert not page.convert_button.isEnabled()
    with store.sessions() as s:
        lead = s.get(Lead, crm.lead)
        assert lead is not None and lead.status == LeadStatus.CONVERTED
        opp = s.get(Opportunity, opportunity_id)
        assert opp is not None and opp.amount == Decimal("12000")
        assert opp.source_lead_id == crm.lead

    # The page then links to what the lead became.
    with qtbot.waitSignal(ui_context.record_requested) as requested:
        qtbot.mouseClick(page.open_buttons["account"], Qt.MouseButton.LeftButton)
    assert requested.args[0] == "account"


def test_lead_conversion_refuses_a_bad_amount_in_the_dialog(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("lead", crm.lead)
    assert isinstance(page, LeadPage)
    qtbot.mouseClick(page.convert_button, Qt.MouseButton.LeftButton)
    dialog = page.convert_dialog
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClicks(line(dialog, "amount"), "a lot")
    with qtbot.waitSignal(dialog.failed):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "Amount" in error_text(dialog, "amount")
    with store.sessions() as s:
        assert s.get(Lead, crm.lead).status == LeadStatus.QUALIFIED  # type: ignore[union-attr]
    dialog.reject()


def test_new_lead_grade_and_status_are_saved(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("lead", None)
    assert not page.convert_button.isEnabled()  # type: ignore[attr-defined]
    grade = field(page, "grade")
    assert isinstance(grade, QComboBox)
    choose(qtbot, grade, "B — warm")
    qtbot.keyClicks(line(page, "company"), "Vandelay Industries")
    qtbot.keyClicks(line(page, "email"), "art@")
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert error_text(page, "email")
    line(page, "email").clear()
    qtbot.keyClicks(line(page, "last_name"), "Vandelay")
    with qtbot.waitSignal(page.saved, timeout=5000) as saved:
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    with store.sessions() as s:
        lead = s.get(Lead, saved.args[0])
        assert lead is not None and (str(lead.grade), lead.company) == ("B", "Vandelay Industries")


def test_unknown_entity_is_refused(ui_context: AppContext) -> None:
    with pytest.raises(ValueError, match="no record page"):
        create_record_page(ui_context, "spaceship", None, None)


def test_lead_page_explains_and_applies_the_suggested_grade(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("lead", crm.lead)
    assert isinstance(page, LeadPage)
    suggestion = page.suggestion.text()
    assert "(score " in suggestion and "company given" in suggestion
    suggested = page.view.suggested_grade
    assert suggested != page.view.form.grade  # graded A by hand; the signals say less
    qtbot.mouseClick(page.use_grade_button, Qt.MouseButton.LeftButton)
    save(qtbot, page)
    with store.sessions() as s:
        assert str(s.get(Lead, crm.lead).grade) == suggested  # type: ignore[union-attr]


def test_a_stage_click_with_a_bad_unsaved_edit_moves_nothing(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    line(page, "amount").clear()
    qtbot.keyClicks(line(page, "amount"), "lots")
    with qtbot.waitSignal(page.failed, timeout=5000):
        qtbot.mouseClick(
            page.stage_bar, Qt.MouseButton.LeftButton, pos=stage_center(page, "Negotiation")
        )
    assert "not a number" in error_text(page, "amount")
    assert page.stage_bar.current_stage_id == crm.stages["Proposal"]
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None
        assert (opp.stage_id, opp.amount) == (crm.stages["Proposal"], Decimal("125000"))


def test_a_good_unsaved_edit_is_saved_with_the_stage_move(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    qtbot.keyClicks(line(page, "next_step"), "Send the revised proposal")
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(
            page.stage_bar, Qt.MouseButton.LeftButton, pos=stage_center(page, "Negotiation")
        )
    assert not page.dirty
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None
        assert (opp.stage_id, opp.next_step) == (
            crm.stages["Negotiation"],
            "Send the revised proposal",
        )


def test_unsaved_edits_survive_a_refresh_from_another_screen(
    qtbot: QtBot, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    page = page_factory("account", crm.acme)
    industry = line(page, "industry")
    industry.setFocus()
    qtbot.keyClick(industry, Qt.Key.Key_End)
    qtbot.keyClicks(industry, " & Energy")
    assert page.dirty
    with qtbot.waitSignal(page.loaded, timeout=5000):
        ui_context.notify_changed("contact")  # e.g. a colleague's sync or another tab
    assert industry.text() == "Manufacturing & Energy"
    assert industry.cursorPosition() == len("Manufacturing & Energy")  # caret stays put
    assert page.dirty


def test_close_won_asks_and_locks_probability(
    qtbot: QtBot,
    store: Store,
    crm: Crm,
    page_factory: PageFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(page.won_button, Qt.MouseButton.LeftButton)
    assert page.closed_note.text().startswith("Won on")
    assert page.probability.value() == 100 and not page.probability.isEnabled()
    assert not page.won_button.isEnabled() and not page.lost_button.isEnabled()
    with store.sessions() as s:
        opp = s.get(Opportunity, crm.turbines)
        assert opp is not None and opp.stage_id == crm.stages["Closed Won"]


def test_double_clicking_a_member_edits_their_attitude(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    tree = page.buying_centre.tree
    item = page.buying_centre.member_item("John Smith")
    assert item is not None
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = page.member_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.form.value("account_contact") == str(crm.john)
    assert dialog.form.value("role") == "influencer"
    attitude = field(dialog, "attitude")
    assert isinstance(attitude, QComboBox)
    choose(qtbot, attitude, "Neutral")
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    member = page.buying_centre.member_item("John Smith")
    assert member is not None and member.text(2) == "Neutral"
    with store.sessions() as s:
        rows = s.scalars(
            select(OpportunityContact).where(
                OpportunityContact.opportunity_id == crm.turbines,
                OpportunityContact.deleted.is_(False),
            )
        ).all()
        assert [(str(r.role), str(r.attitude)) for r in rows] == [("influencer", "neutral")]


def test_new_opportunity_from_the_account_page_opens_it(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    page = page_factory("account", crm.acme)
    assert isinstance(page, AccountPage)
    page.tabs.setCurrentIndex(1)
    qtbot.mouseClick(page.new_opportunity_button, Qt.MouseButton.LeftButton)
    dialog = page.opportunity_dialog
    qtbot.waitUntil(dialog.isVisible)
    with qtbot.waitSignal(dialog.failed):
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "Name is required" in dialog.form.error_text("name")
    qtbot.keyClicks(line(dialog, "name"), "Acme spare parts")
    qtbot.keyClicks(line(dialog, "amount"), "8000")
    with qtbot.waitSignal(ui_context.record_requested, timeout=5000) as requested:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    entity, opportunity_id = requested.args
    assert entity == "opportunity"
    qtbot.waitUntil(lambda: page.opportunities.find_item("Acme spare parts") is not None)
    with store.sessions() as s:
        opp = s.get(Opportunity, opportunity_id)
        assert opp is not None
        assert (opp.account_id, opp.amount, opp.owner_id) == (crm.acme, Decimal("8000"), crm.me)


def test_stage_bar_works_from_the_keyboard(
    qtbot: QtBot, store: Store, crm: Crm, page_factory: PageFactory
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    page.stage_bar.setFocus()
    qtbot.keyClick(page.stage_bar, Qt.Key.Key_Left)  # Proposal -> Needs Analysis
    with qtbot.waitSignal(page.loaded, timeout=5000):
        qtbot.keyClick(page.stage_bar, Qt.Key.Key_Return)
    assert page.stage_bar.current_stage_id == crm.stages["Needs Analysis"]
    assert page.probability.value() == 40


def test_a_call_logged_from_the_opportunity_lands_on_its_timeline(
    qtbot: QtBot, crm: Crm, page_factory: PageFactory, ui_context: AppContext
) -> None:
    page = page_factory("opportunity", crm.turbines)
    assert isinstance(page, OpportunityPage)
    page.tabs.setCurrentIndex(1)
    assert page.timeline.item_count() == 1
    qtbot.mouseClick(page.timeline.log_call_button, Qt.MouseButton.LeftButton)
    dialog = page.timeline.dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    qtbot.waitUntil(lambda: ui_context.runner.pending == 0)
    assert "Acme turbines" in dialog.subject_edit.text()
    qtbot.keyClicks(dialog.outcome_edit, "Budget approved, PO next week")
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        qtbot.keyClick(dialog.outcome_edit, Qt.Key.Key_Return)
    assert page.timeline.item_count() == 2


def test_closing_with_unsaved_edits_asks_first(
    qtbot: QtBot, crm: Crm, page_factory: PageFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = page_factory("contact", crm.john)
    assert page.windowTitle() == "John Smith"  # the main window's tab caption
    qtbot.keyClicks(line(page, "mobile"), "+44 20 7946 0000")
    asked: list[str] = []

    def answer(button: QMessageBox.StandardButton) -> object:
        def ask(*args: object, **kwargs: object) -> QMessageBox.StandardButton:
            asked.append(str(args[2]))
            return button

        return ask

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not page.close()
    assert page.isVisible() and "John Smith" in asked[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert page.close()
